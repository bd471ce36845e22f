package sensor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestHostCgroupsKeepSandboxedTasksInTheKernel: a task that looks like a
// workload (it exec'd in a mount namespace of its own, as a sandboxed host
// service does) in a cgroup marked the host's has its opens kept in the
// kernel and counted under ContainedOnly (`run`), and delivered without
// it (`trace`). The same task in a cgroup not marked, or marked but with a
// container scope, is delivered either way; so is it once the set is cleared.
func TestHostCgroupsKeepSandboxedTasksInTheKernel(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name          string
		containedOnly bool
	}{{"run", true}, {"trace", false}} {
		t.Run(tc.name, func(t *testing.T) {
			host, scoped, fresh := testutil.NewCgroup(t), testutil.NewCgroup(t), testutil.NewCgroup(t)
			cfg := defaultTestConfig(TypeExec, TypeOpen)
			cfg.ContainedOnly = tc.containedOnly
			s, rec := startSensor(t, cfg, host)
			for _, cg := range []*testutil.Cgroup{scoped, fresh} {
				if err := s.AddCgroup(cg.ID); err != nil {
					t.Fatal(err)
				}
			}
			hosts := s.HostCgroups()
			for _, cg := range []*testutil.Cgroup{host, scoped} {
				if err := hosts.Mark(cg.ID); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Objects().Map(bpfobj.RecordMapContainerScopes).Put(scoped.ID, uint32(7)); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(realPath(t, t.TempDir()), "config")
			if err := os.WriteFile(file, []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}

			// sandboxed runs a task that unshares its mount namespace and
			// execs cat of file there, and reports whether cat's open of
			// file was delivered.
			sandboxed := func(cg *testutil.Cgroup) bool {
				t.Helper()
				pid := runHelper(t, cg, "enter-then-exec", file)
				rec.waitFor(t, "the sandboxed task's exit", func(ev Event) bool { return ev.Type == TypeExit && ev.PID == uint32(pid) })
				for _, ev := range rec.all() {
					if ev.Type == TypeOpen && ev.PID == uint32(pid) && ev.Open.Path == file && ev.Comm == "cat" {
						return true
					}
				}
				return false
			}
			if got, want := sandboxed(host), !tc.containedOnly; got != want {
				t.Errorf("open in the host's cgroup delivered: %v, want %v", got, want)
			}
			if !sandboxed(scoped) {
				t.Error("open in a host-marked cgroup with a container scope not delivered")
			}
			if !sandboxed(fresh) {
				t.Error("open in a cgroup not marked not delivered")
			}
			st, err := s.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if tc.containedOnly && st.HostCgroup[TypeOpen] == 0 {
				t.Error("no open kept in the host's cgroup counted")
			}
			if !tc.containedOnly && st.HostCgroup[TypeOpen] != 0 {
				t.Errorf("%d opens counted as kept without ContainedOnly", st.HostCgroup[TypeOpen])
			}

			if err := hosts.Clear(); err != nil {
				t.Fatal(err)
			}
			if marked, err := hosts.Marked(host.ID); err != nil || marked {
				t.Fatalf("host cgroup marked after Clear: %v, %v", marked, err)
			}
			if !sandboxed(host) {
				t.Error("open in the host's cgroup not delivered once the set was cleared")
			}
		})
	}
}

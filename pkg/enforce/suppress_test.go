package enforce

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestKernelKeepsKnownOpens monitors a test cgroup with a compiled profile:
// opens the profile allows, and lookups of missing files, must not leave
// the kernel; an open outside the profile must.
func TestKernelKeepsKnownOpens(t *testing.T) {
	testutil.RequireRoot(t)
	k := newKernelFixture(t, 0, func(cfg *sensor.Config, kcfg *KernelConfig) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeOpen)
		cfg.MaxLatency = 10 * time.Millisecond
	})
	cg, s := k.cgroup, k.sensor
	opened := make(chan string, 1024)
	go func() {
		for ev := range sensor.Merged(s) {
			if ev.Type == sensor.TypeOpen {
				opened <- ev.Open.Path
			}
		}
	}()

	dir := plainTempDir(t) // a profile naming a volatile component is widened: nothing stays in the kernel
	known, news := filepath.Join(dir, "known"), filepath.Join(dir, "news")
	for _, f := range []string{known, news} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeMonitor}}
	p.Spec.Files = []profile.FileEntry{{Path: known, Access: profile.AccessRead}}
	k.apply(t, 3, profile.ModeMonitor, p)

	cmd := cg.Command("/bin/busybox", "cat", known, known, known, news, filepath.Join(dir, "missing"))
	cmd.Args[0] = "busybox"
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
	cmd.Run() // cat fails on the missing file, after the others

	seen := map[string]int{}
	timeout := time.After(5 * time.Second)
	for seen[news] == 0 {
		select {
		case path := <-opened:
			seen[path]++
		case <-timeout:
			t.Fatalf("the open outside the profile never left the kernel; seen %v", seen)
		}
	}
	time.Sleep(100 * time.Millisecond) // anything else on its way
	for len(opened) > 0 {
		seen[<-opened]++
	}
	if seen[known] != 0 || seen[filepath.Join(dir, "missing")] != 0 {
		t.Errorf("known opens or failed lookups left the kernel: %v", seen)
	}
}

// TestKernelCollapsesLearningRepeats learns a test cgroup: a file opened
// again and again is reported once per learn window, the next report
// carrying the count of the opens kept in the kernel; another name of the
// same file, or the file renamed, is news, and so is every file after
// ForgetLearned; once the scope is forgotten every open is reported.
func TestKernelCollapsesLearningRepeats(t *testing.T) {
	testutil.RequireRoot(t)
	const window = time.Second
	k := newKernelFixture(t, 0, func(cfg *sensor.Config, kcfg *KernelConfig) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeOpen)
		cfg.MaxLatency = 10 * time.Millisecond
		kcfg.LearnWindow = window
	})
	type report struct {
		path    string
		repeats uint32
	}
	reports := make(chan report, 1024)
	go func() {
		for ev := range sensor.Merged(k.sensor) {
			if ev.Type == sensor.TypeOpen {
				reports <- report{ev.Open.Path, ev.Open.Repeats}
			}
		}
	}()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	file, alias := filepath.Join(dir, "file"), filepath.Join(dir, "alias")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(file, alias); err != nil {
		t.Fatal(err)
	}
	k.apply(t, 4, profile.ModeLearn, nil)
	// One shell cats for the test, in a mount namespace of its own as a
	// container's workload runs (contained); one namespace, because the
	// kernel tells a file's names apart by their mount.
	sh := startShell(t, k.cgroup)
	cat := func(paths ...string) {
		t.Helper()
		if rc, out := sh.run(t, "/bin/busybox cat "+strings.Join(paths, " ")+" >/dev/null"); rc != 0 {
			t.Fatalf("cat: exit %d: %s", rc, out)
		}
	}
	// collect waits for the reports of want paths, then for stragglers.
	collect := func(want ...string) map[string][]uint32 {
		t.Helper()
		got := map[string][]uint32{}
		timeout := time.After(5 * time.Second)
		for _, p := range want {
			for len(got[p]) == 0 {
				select {
				case r := <-reports:
					got[r.path] = append(got[r.path], r.repeats)
				case <-timeout:
					t.Fatalf("no report of %s; got %v", p, got)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
		for len(reports) > 0 {
			r := <-reports
			got[r.path] = append(got[r.path], r.repeats)
		}
		return got
	}

	const opens = 200
	many := make([]string, opens)
	for i := range many {
		many[i] = file
	}
	start := time.Now()
	cat(append(many, alias)...)
	got := collect(file, alias)
	if !slices.Equal(got[file], []uint32{0}) || !slices.Equal(got[alias], []uint32{0}) {
		t.Fatalf("reports within the window = %v, want one of %s and one of %s", got, file, alias)
	}
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(alias, moved); err != nil {
		t.Fatal(err)
	}
	cat(moved)
	got = collect(moved)
	if time.Since(start) >= window {
		t.Skipf("the opens took longer than the window (%v): nothing to check", time.Since(start))
	}
	if !slices.Equal(got[moved], []uint32{0}) {
		t.Errorf("a renamed file within the window = %v, want it reported under its new name", got)
	}

	time.Sleep(window)
	cat(file)
	if got := collect(file); !slices.Equal(got[file], []uint32{opens - 1}) {
		t.Errorf("report after the window = %v, want one carrying the %d opens kept", got, opens-1)
	}
	// Events lost on their way: the next open is news, with what was kept.
	cat(file)
	if err := k.kernel.ForgetLearned(); err != nil {
		t.Fatal(err)
	}
	cat(file)
	if got := collect(file); !slices.Equal(got[file], []uint32{1}) {
		t.Errorf("report after ForgetLearned = %v, want one carrying the 1 open kept", got)
	}

	if err := k.enforcer.Forget(4); err != nil {
		t.Fatal(err)
	}
	cat(file, file, file)
	if got := collect(file); len(got[file]) != 3 {
		t.Errorf("after the scope is forgotten: %v, want every open reported", got)
	}
}

// TestKernelCollapsesLearningUses learns a test cgroup: a capability used,
// or an inet destination connected to, again and again is reported once per
// learn window, the next report carrying the count of the uses kept in the
// kernel; once the scope is forgotten every use is reported.
func TestKernelCollapsesLearningUses(t *testing.T) {
	testutil.RequireRoot(t)
	port := testutil.ListenLoopback(t).Port
	for _, tc := range []struct {
		name  string
		typ   sensor.Type
		use   string // a shell command using it once
		match func(ev *sensor.Event) (repeats uint32, ok bool)
	}{
		{"capability", sensor.TypeCapability, "/bin/busybox chroot / /bin/busybox true", func(ev *sensor.Event) (uint32, bool) {
			return ev.Capability.Repeats, ev.Type == sensor.TypeCapability && ev.Capability.Cap == unix.CAP_SYS_CHROOT
		}},
		{"connect", sensor.TypeConnect, fmt.Sprintf("/bin/busybox nc -w 1 127.0.0.1 %d </dev/null", port), func(ev *sensor.Event) (uint32, bool) {
			return ev.Connect.Repeats, ev.Type == sensor.TypeConnect && ev.Connect.Port == uint16(port)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const window = time.Second
			k := newKernelFixture(t, 0, func(cfg *sensor.Config, kcfg *KernelConfig) {
				cfg.Types = sensor.NewTypeSet(tc.typ)
				cfg.MaxLatency = 10 * time.Millisecond
				kcfg.LearnWindow = window
			})
			reports := make(chan uint32, 1024)
			go func() {
				for ev := range sensor.Merged(k.sensor) {
					if repeats, ok := tc.match(&ev); ok {
						reports <- repeats
					}
				}
			}()
			// use it n times, as a container's workload (in a mount
			// namespace of its own), and return its reports: want of them
			// first, then any stragglers.
			use := func(n, want int) []uint32 {
				t.Helper()
				sh := k.cgroup.Command("/bin/busybox", "sh", "-c", fmt.Sprintf("for i in $(seq %d); do %s; done", n, tc.use))
				sh.Args[0] = "busybox"
				sh.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
				if out, err := sh.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v: %s", tc.use, err, out)
				}
				var got []uint32
				timeout := time.After(5 * time.Second)
				for len(got) < want {
					select {
					case r := <-reports:
						got = append(got, r)
					case <-timeout:
						t.Fatalf("%d reports, want %d: %v", len(got), want, got)
					}
				}
				time.Sleep(100 * time.Millisecond)
				for len(reports) > 0 {
					got = append(got, <-reports)
				}
				return got
			}

			k.apply(t, 5, profile.ModeLearn, nil)
			const uses = 50
			start := time.Now()
			got := use(uses, 1)
			if time.Since(start) >= window {
				t.Skipf("the uses took longer than the window (%v): nothing to check", time.Since(start))
			}
			if !slices.Equal(got, []uint32{0}) {
				t.Fatalf("reports within the window = %v, want one", got)
			}
			time.Sleep(window)
			if got := use(1, 1); !slices.Equal(got, []uint32{uses - 1}) {
				t.Errorf("report after the window = %v, want one carrying the %d uses kept", got, uses-1)
			}

			if err := k.enforcer.Forget(5); err != nil {
				t.Fatal(err)
			}
			if got := use(3, 3); len(got) != 3 {
				t.Errorf("after the scope is forgotten: %v, want every use reported", got)
			}
		})
	}
}

// TestKernelCountsEveryLearnedOpen races processes opening one file across
// many short learn windows: however the reports fall, they must account for
// every open exactly once, the count kept in the kernel included (a report
// claimed by two CPUs at once would count its repeats twice).
func TestKernelCountsEveryLearnedOpen(t *testing.T) {
	testutil.RequireRoot(t)
	const window = 200 * time.Microsecond
	k := newKernelFixture(t, 0, func(cfg *sensor.Config, kcfg *KernelConfig) {
		cfg.Types = sensor.NewTypeSet(sensor.TypeOpen)
		cfg.MaxLatency = 10 * time.Millisecond
		kcfg.LearnWindow = window
	})
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reports, sightings uint64
	go func() {
		for ev := range sensor.Merged(k.sensor) {
			if ev.Type == sensor.TypeOpen && ev.Open.Path == file {
				mu.Lock()
				reports++
				sightings += 1 + uint64(ev.Open.Repeats)
				mu.Unlock()
			}
		}
	}()
	k.apply(t, 6, profile.ModeLearn, nil)

	const procs, opens = 4, 500
	cats := "/bin/busybox cat" + strings.Repeat(" "+file, opens)
	script := strings.Repeat(cats+" & ", procs) + "wait; sleep 0.01; /bin/busybox cat " + file
	sh := k.cgroup.Command("/bin/busybox", "sh", "-c", script)
	sh.Args[0] = "busybox"
	sh.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS // one mount: one key
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("cat: %v: %s", err, out)
	}
	const want = procs*opens + 1
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := sightings
		mu.Unlock()
		if got >= want || time.Now().After(deadline) {
			time.Sleep(100 * time.Millisecond) // anything more on its way
			mu.Lock()
			got, n := sightings, reports
			mu.Unlock()
			if st, err := k.sensor.Stats(); err == nil && st.Lost(sensor.TypeOpen) > 0 {
				t.Skipf("%d opens lost on their way: their counts are not for this test", st.Lost(sensor.TypeOpen))
			}
			if got != want {
				t.Fatalf("%d reports account for %d opens, want %d", n, got, want)
			}
			t.Logf("%d opens in %d reports", got, n)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

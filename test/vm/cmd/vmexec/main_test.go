package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/test/testenv"
	"github.com/vigil-dev/vigil/test/testutil"
	"github.com/vigil-dev/vigil/test/vm"
)

func TestTestTimeout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		ok   bool
	}{
		{[]string{"-test.paniconexit0", "-test.timeout=10m0s", "-test.run=X"}, 10 * time.Minute, true},
		{[]string{"--test.timeout", "90s"}, 90 * time.Second, true},
		{[]string{"-test.run=X"}, 0, false},
		{[]string{"-test.timeout=soon"}, 0, false},
		{[]string{"-test.timeout"}, 0, false},
	} {
		got, ok := testTimeout(tc.args)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %s %v, want %s %v", tc.args, got, ok, tc.want, tc.ok)
		}
	}
}

func TestGuestEnv(t *testing.T) {
	environ := []string{
		"VIGIL_ROOT_TESTS=1", "VIGIL_VM_TIMEOUT=1m", "GODEBUG=x=1", "HOME=/root",
		"PATH=/usr/bin", "MY_VAR=a=b", "VIGILANT=no",
	}
	got := guestEnv(environ, []string{"MY_VAR"})
	want := []string{"VIGIL_ROOT_TESTS=1", "GODEBUG=x=1", "MY_VAR=a=b"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestBuildSpec(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, ok := vm.ModuleRoot(wd)
	if !ok || !strings.HasSuffix(wd, filepath.Join("test", "vm", "cmd", "vmexec")) {
		t.Fatalf("module root of %s: %q %v", wd, root, ok)
	}
	extra := t.TempDir()
	spec, err := buildSpec(options{shares: []string{extra + ":ro", "/data"}}, "/tmp/b001/x.test",
		[]string{"-test.timeout=3m"}, []string{"VIGIL_ROOT_TESTS=1"})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Path != "/tmp/b001/x.test" || spec.Dir != wd || spec.Timeout != 3*time.Minute+bootMargin {
		t.Errorf("spec %+v", spec)
	}
	wantShares := []vm.Share{{Path: root, ReadOnly: true}, {Path: extra, ReadOnly: true}, {Path: "/data"}}
	if !slices.Equal(spec.Shares, wantShares) {
		t.Errorf("shares %+v, want %+v", spec.Shares, wantShares)
	}
	if !slices.Equal(spec.Env, []string{"VIGIL_ROOT_TESTS=1"}) {
		t.Errorf("env %q", spec.Env)
	}
}

// TestGoTestExec runs a guest-only test through vmexec as go test's -exec
// wrapper, the way `make vmtest` does. (That a failing program's exit status
// comes back is tested on vm.Image.Run, which vmexec's status is.)
func TestGoTestExec(t *testing.T) {
	testutil.RequireRoot(t)
	vmexec := filepath.Join(t.TempDir(), "vmexec")
	if out, err := exec.Command("go", "build", "-o", vmexec, ".").CombinedOutput(); err != nil {
		t.Fatalf("build vmexec: %v\n%s", err, out)
	}
	goTest := func(run string) (string, error) {
		cmd := exec.Command("go", "test", "-count=1", "-v", "-exec", vmexec+" -v", "-run", run, "../../lsmproof")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", testenv.RootTestsEnv+"=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := goTest("TestDenyOpen")
	t.Logf("go test -exec vmexec:\n%s", out)
	if err != nil {
		t.Fatalf("go test -exec vmexec: %v", err)
	}
	if !strings.Contains(out, "--- PASS: TestDenyOpen") || !strings.Contains(out, "vmexec: ") {
		t.Fatal("TestDenyOpen did not pass in the guest, or vmexec did not report")
	}
}

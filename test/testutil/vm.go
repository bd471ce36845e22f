package testutil

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/test/testenv"
	"github.com/vigil-dev/vigil/test/vm"
)

// RequireVMGuest skips a test outside the test VM (package test/vm). Such
// tests need a kernel feature this host lacks (BPF LSM); a host-side test
// runs them in the VM with RunInVM, which fails if they skip there.
func RequireVMGuest(tb testing.TB) {
	tb.Helper()
	if os.Getenv(vm.GuestEnv) != "1" {
		tb.Skip("runs inside the test VM only (its host-side test runs it there via testutil.RunInVM)")
	}
}

// vmDeadlineMargin is kept from the test's deadline to report a hung guest.
const vmDeadlineMargin = 30 * time.Second

// RunInVM builds the tests of pkg (a package path relative to the calling
// test's directory, such as "./lsmproof") with CGO_ENABLED=0, runs those
// matching the -test.run pattern run inside the test VM as root with
// VIGIL_ROOT_TESTS=1, and fails tb if the run fails. Each test named in want
// must have passed: one that skipped or did not run fails tb, so that a
// guest-only test can never be skipped silently. The guest's output goes to
// the test log.
func RunInVM(tb testing.TB, pkg, run string, want ...string) {
	tb.Helper()
	runInVM(tb, nil, pkg, run, want...)
}

// NoBPFLSM boots the test VM's kernel with BPF LSM left out of the LSMs it
// runs, as Ubuntu's and Azure Linux's kernels do: BPF trampolines load,
// BPF LSM programs do not.
var NoBPFLSM = []string{"lsm=lockdown,capability"}

// RunInVMWith is RunInVM on a kernel booted with kernelArgs appended to
// its command line (NoBPFLSM).
func RunInVMWith(tb testing.TB, kernelArgs []string, pkg, run string, want ...string) {
	tb.Helper()
	runInVM(tb, kernelArgs, pkg, run, want...)
}

func runInVM(tb testing.TB, kernelArgs []string, pkg, run string, want ...string) {
	tb.Helper()
	RequireRoot(tb)
	ctx := context.Background()
	timeout := vm.DefaultTimeout
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			timeout = min(max(time.Until(deadline)-vmDeadlineMargin, time.Minute), vm.DefaultTimeout)
		}
	}

	bin := filepath.Join(tb.TempDir(), "guest.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build %s for the VM: %v\n%s", pkg, err, out)
	}
	img, err := vm.Prepare(ctx, vm.Config{Logger: zaptest.NewLogger(tb)})
	if err != nil {
		tb.Fatalf("prepare the VM: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	spec := vm.Spec{
		Path:       bin,
		Args:       []string{"-test.v", "-test.count=1", "-test.run=" + run, "-test.timeout=" + timeout.String()},
		Env:        []string{testenv.RootTestsEnv + "=1"},
		Dir:        wd,
		Stdout:     &out,
		Stderr:     &out,
		Timeout:    timeout + vmDeadlineMargin/2,
		KernelArgs: kernelArgs,
	}
	if root, ok := vm.ModuleRoot(wd); ok {
		spec.Shares = []vm.Share{{Path: root, ReadOnly: true}}
	}
	res, err := img.Run(ctx, spec)
	tb.Logf("guest output (%s):\n%s", img.Release, out.Bytes())
	if err != nil {
		tb.Fatalf("run %s in the VM: %v", pkg, err)
	}
	tb.Logf("VM: kernel %s booted in %s, %s in all", img.Release, res.Boot.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond))
	if res.ExitCode != 0 {
		tb.Fatalf("tests of %s failed in the VM (exit status %d)", pkg, res.ExitCode)
	}
	for _, name := range missingPasses(out.String(), want) {
		tb.Errorf("test %s did not pass in the VM (skipped or not run)", name)
	}
}

// missingPasses returns the names in want that have no "--- PASS" line in
// go test -v output.
func missingPasses(output string, want []string) []string {
	var missing []string
	for _, name := range want {
		pass := regexp.MustCompile(`(?m)^\s*--- PASS: ` + regexp.QuoteMeta(name) + ` \(`)
		if !pass.MatchString(output) {
			missing = append(missing, name)
		}
	}
	return missing
}

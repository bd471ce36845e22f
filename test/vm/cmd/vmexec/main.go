// Command vmexec runs a program, normally a Go test binary, inside the vigil
// test VM (package test/vm) and exits with its exit status. It is meant for
// go test's -exec flag:
//
//	go build -o bin/vmexec ./test/vm/cmd/vmexec
//	CGO_ENABLED=0 VIGIL_ROOT_TESTS=1 go test -exec "$PWD/bin/vmexec" ./pkg/x -run TestY
//
// The guest sees the test binary's directory (read-write) and the Go module
// around the working directory (read-only) at the same paths, starts in the
// same working directory, and gets only the environment variables vmexec
// passes: VIGIL_* (but VIGIL_VM_*, which configure vmexec), GOTRACEBACK,
// GODEBUG and those named with --env. When vmexec itself fails (no kernel, no
// qemu, a guest that hangs past --timeout) it exits with status 125.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/test/vm"
)

const (
	envPrefix = "VIGIL_VM"
	// exitHarness is vmexec's own failure, as distinct from the program's.
	exitHarness = 125
	// bootMargin is added to the test binary's -test.timeout for the hard
	// limit, so that the test's own timeout (with its goroutine dump) fires first.
	bootMargin = time.Minute
)

// passedEnv are passed to the guest besides VIGIL_* and --env.
var passedEnv = []string{"GOTRACEBACK", "GODEBUG"}

type options struct {
	cacheDir      string
	kernelPackage string
	timeout       time.Duration
	env           []string
	shares        []string
	modules       []string
	memoryMiB     int
	cpus          int
	verbose       bool
}

func main() {
	code, err := execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmexec:", err)
	}
	os.Exit(code)
}

func execute() (int, error) {
	var o options
	code := exitHarness
	cmd := &cobra.Command{
		Use:           "vmexec [flags] PROGRAM [ARG...]",
		Short:         "run a program (a go test binary) inside the vigil test VM",
		Args:          cobra.MinimumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cliflags.BindEnv(cmd.Flags(), envPrefix); err != nil {
				return err
			}
			var err error
			code, err = runInVM(cmd.Context(), o, args[0], args[1:])
			return err
		},
	}
	f := cmd.Flags()
	// Everything after the program belongs to it (-test.run=…, -test.v …).
	f.SetInterspersed(false)
	f.StringVar(&o.cacheDir, "cache-dir", "", "where prepared kernels are kept (default /var/cache/vigil-vm for root)")
	f.StringVar(&o.kernelPackage, "kernel-package", vm.DefaultKernelPackage, "Debian kernel image package (or metapackage) to boot")
	f.DurationVar(&o.timeout, "timeout", 0, "hard limit for boot and run; qemu is killed past it (default: the program's -test.timeout plus a minute, else 10m)")
	f.StringSliceVar(&o.env, "env", nil, "names of further host environment variables to pass to the program")
	f.StringSliceVar(&o.shares, "share", nil, "further host directories to mirror in the guest, PATH or PATH:ro")
	f.StringSliceVar(&o.modules, "module", nil, "further kernel modules to load at boot")
	f.IntVar(&o.memoryMiB, "memory", vm.DefaultMemoryMiB, "guest memory in MiB")
	f.IntVar(&o.cpus, "cpus", vm.DefaultCPUs, "guest CPUs")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "report the kernel and the boot and run times on stderr")
	cliflags.AnnotateEnv(f, envPrefix)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.ExecuteContext(ctx)
	return code, err
}

func runInVM(ctx context.Context, o options, program string, args []string) (int, error) {
	log, err := newLogger()
	if err != nil {
		return exitHarness, err
	}
	defer log.Sync() //nolint:errcheck // stderr
	img, err := vm.Prepare(ctx, vm.Config{
		CacheDir:      o.cacheDir,
		KernelPackage: o.kernelPackage,
		Modules:       o.modules,
		Logger:        log,
	})
	if err != nil {
		return exitHarness, err
	}
	spec, err := buildSpec(o, program, args, os.Environ())
	if err != nil {
		return exitHarness, err
	}
	res, err := img.Run(ctx, spec)
	if err != nil {
		return exitHarness, err
	}
	if o.verbose {
		fmt.Fprintf(os.Stderr, "vmexec: %s (%s): booted in %s, exit %d, %s in all\n",
			img.Release, img.Package, res.Boot.Round(time.Millisecond), res.ExitCode, res.Elapsed.Round(time.Millisecond))
	}
	return res.ExitCode, nil
}

// buildSpec turns vmexec's invocation into a run: go test starts it in the
// package's directory with the test binary's path and flags.
func buildSpec(o options, program string, args, environ []string) (vm.Spec, error) {
	program, err := filepath.Abs(program)
	if err != nil {
		return vm.Spec{}, fmt.Errorf("program path: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return vm.Spec{}, fmt.Errorf("working directory: %w", err)
	}
	spec := vm.Spec{
		Path:      program,
		Args:      args,
		Env:       guestEnv(environ, o.env),
		Dir:       wd,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Timeout:   o.timeout,
		MemoryMiB: o.memoryMiB,
		CPUs:      o.cpus,
	}
	if spec.Timeout == 0 {
		spec.Timeout = vm.DefaultTimeout
		if d, ok := testTimeout(args); ok && d > 0 {
			spec.Timeout = d + bootMargin
		}
	}
	// Tests read testdata and other files of the module: share all of it.
	if root, ok := vm.ModuleRoot(wd); ok {
		spec.Shares = append(spec.Shares, vm.Share{Path: root, ReadOnly: true})
	}
	for _, s := range o.shares {
		path, ro := strings.CutSuffix(s, ":ro")
		abs, err := filepath.Abs(path)
		if err != nil {
			return vm.Spec{}, fmt.Errorf("share %s: %w", s, err)
		}
		spec.Shares = append(spec.Shares, vm.Share{Path: abs, ReadOnly: ro})
	}
	return spec, nil
}

// guestEnv picks the host variables the program gets.
func guestEnv(environ, extra []string) []string {
	want := map[string]bool{}
	for _, n := range append(append([]string{}, passedEnv...), extra...) {
		want[n] = true
	}
	var env []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		vigil := strings.HasPrefix(name, "VIGIL_") && !strings.HasPrefix(name, envPrefix+"_")
		if vigil || want[name] {
			env = append(env, kv)
		}
	}
	return env
}

// testTimeout finds the -test.timeout go test passes to the binary.
func testTimeout(args []string) (time.Duration, bool) {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "test.timeout" {
			continue
		}
		if !hasVal {
			if i+1 == len(args) {
				return 0, false
			}
			val = args[i+1]
		}
		d, err := time.ParseDuration(val)
		return d, err == nil
	}
	return 0, false
}

func newLogger() (*zap.Logger, error) {
	cfg := zap.NewDevelopmentConfig()
	cfg.Development = false
	cfg.DisableStacktrace = true
	cfg.DisableCaller = true
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	return cfg.Build()
}

package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// kernelArgs: BPF LSM on (with lockdown and capability, as a node that runs
// it would have), no speculation mitigations (costly under emulation and
// pointless in a throwaway guest), and a panic powers the guest off at once.
var kernelArgs = []string{"console=ttyS0", "quiet", "lsm=lockdown,capability,bpf", "panic=-1", "mitigations=off"}

// ErrTimeout means the guest ran past Spec.Timeout and qemu was killed.
var ErrTimeout = errors.New("guest ran past its deadline and was killed")

// consoleTail is how much of the guest console an error quotes.
const consoleTail = 4096

// Result is how a run ended.
type Result struct {
	// ExitCode is the program's exit status (128+n if signal n killed it).
	ExitCode int
	// Boot is the guest's uptime when the program started.
	Boot time.Duration
	// Elapsed is the wall time from starting qemu to its exit.
	Elapsed time.Duration
}

// Run boots the guest, runs spec's program in it as root and returns its
// exit status. The program's output reaches spec.Stdout and spec.Stderr
// while it runs. An error means the harness or the guest failed, not the
// program; it quotes the guest's console.
func (img *Image) Run(ctx context.Context, spec Spec) (*Result, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := requireStaticProgram(spec.Path); err != nil {
		return nil, fmt.Errorf("%w (build Go programs with CGO_ENABLED=0)", err)
	}
	shares, err := spec.shares()
	if err != nil {
		return nil, err
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("find qemu (install qemu-system-x86): %w", err)
	}
	work, err := os.MkdirTemp("", "vigil-vm-")
	if err != nil {
		return nil, fmt.Errorf("create run dir: %w", err)
	}
	defer os.RemoveAll(work)
	ctl := filepath.Join(work, "ctl")
	if err := os.Mkdir(ctl, 0o755); err != nil {
		return nil, fmt.Errorf("create control dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(ctl, ctlScript), []byte(guestScript(spec, shares)), 0o644); err != nil {
		return nil, fmt.Errorf("write guest script: %w", err)
	}
	console := filepath.Join(work, "console.log")

	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, img.qemuArgs(spec, shares, ctl, console)...)
	var qemuOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	// qemu must not outlive us: go test kills the -exec wrapper when a test
	// binary overruns. The death signal fires when the starting thread
	// exits, so keep this goroutine on it until qemu is gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	out := newFollower(filepath.Join(ctl, ctlStdout), spec.Stdout)
	errOut := newFollower(filepath.Join(ctl, ctlStderr), spec.Stderr)
	stop := make(chan struct{})
	followed := make(chan error, 1)
	go func() { followed <- follow(stop, out, errOut) }()

	start := time.Now()
	waitErr := cmd.Run()
	res := &Result{Elapsed: time.Since(start)}
	close(stop)
	if err := <-followed; err != nil {
		return nil, err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return res, fmt.Errorf("after %s: %w%s", res.Elapsed.Round(time.Millisecond), ErrTimeout, quoteConsole(console))
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("run guest: %w", ctx.Err())
	}
	if waitErr != nil {
		return res, fmt.Errorf("qemu: %w: %s%s", waitErr, bytes.TrimSpace(qemuOut.Bytes()), quoteConsole(console))
	}
	if msg, err := os.ReadFile(filepath.Join(ctl, ctlGuestError)); err == nil {
		return res, fmt.Errorf("guest could not start the program: %s", bytes.TrimSpace(msg))
	}
	code, err := readNumber(filepath.Join(ctl, ctlExit))
	if err != nil {
		return res, fmt.Errorf("guest stopped without an exit status (%w)%s", err, quoteConsole(console))
	}
	res.ExitCode = int(code)
	if up, err := readNumber(filepath.Join(ctl, ctlUptime)); err == nil {
		res.Boot = time.Duration(up * float64(time.Second))
	}
	return res, nil
}

func (img *Image) qemuArgs(spec Spec, shares []Share, ctl, console string) []string {
	args := []string{
		// KVM here is PVM, which needs a PVM-aware guest kernel; TCG works anywhere.
		"-accel", "tcg",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-m", strconv.Itoa(spec.MemoryMiB), "-smp", strconv.Itoa(spec.CPUs),
		// The uncompressed kernel boots through PVH, skipping the guest-side
		// decompression that is slow under emulation.
		"-kernel", img.Vmlinux, "-initrd", img.Initramfs,
		"-append", strings.Join(append(append([]string{}, kernelArgs...), spec.KernelArgs...), " "),
		"-serial", "file:" + console,
		"-virtfs", virtfs(ctl, "ctl", false),
		"-virtfs", virtfs(img.ModuleRoot, "modules", true),
	}
	for i, sh := range shares {
		args = append(args, "-virtfs", virtfs(sh.Path, shareTag(i), sh.ReadOnly))
	}
	return args
}

// virtfs is a -virtfs option value; commas in the path are doubled, as
// qemu's option syntax wants.
func virtfs(path, tag string, readOnly bool) string {
	v := "local,path=" + strings.ReplaceAll(path, ",", ",,") + ",mount_tag=" + tag + ",security_model=none"
	if readOnly {
		v += ",readonly=on"
	}
	return v
}

func readNumber(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Base(path), err)
	}
	return n, nil
}

// quoteConsole returns the end of the guest console, to explain a failure.
func quoteConsole(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return "; the guest console is empty"
	}
	if len(b) > consoleTail {
		b = b[len(b)-consoleTail:]
	}
	return "; guest console:\n" + string(bytes.TrimSpace(b))
}

// requireStaticProgram refuses a dynamically linked ELF program; scripts
// and other files are the guest's to judge.
func requireStaticProgram(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open program: %w", err)
	}
	magic := make([]byte, len(elfMagic))
	_, err = f.Read(magic)
	f.Close()
	if err != nil || !bytes.Equal(magic, elfMagic) {
		return nil
	}
	return requireStatic(path)
}

package ctrd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// The binaries a private containerd running runc containers needs, and the
// package that brings each one (what test/deps.sh installs).
var requiredBinaries = map[string]string{
	"containerd":              "containerd",
	"containerd-shim-runc-v2": "containerd",
	"ctr":                     "containerd",
	"runc":                    "runc",
}

// Time bounds of daemon start and stop: a healthy containerd answers in well
// under a second here; these only bound a broken one.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// Daemon is a private containerd made by New.
type Daemon struct {
	// Dir holds everything of this daemon: config, root, state, sockets, log.
	Dir string
	// Address is the gRPC socket path to give to containerd clients.
	Address string

	configPath string
	logPath    string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}  // closed when cmd has exited
	client *client.Client // shared by the callers of Client; reconnects across restarts
}

// CheckBinaries names what to install when a binary a private containerd
// needs is not on the PATH.
func CheckBinaries() error {
	var missing []string
	pkgs := map[string]bool{}
	for bin, pkg := range requiredBinaries {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
			pkgs[pkg] = true
		}
	}
	if _, err := os.Stat(BusyboxPath); err != nil {
		missing = append(missing, BusyboxPath)
		pkgs["busybox-static"] = true
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("missing %s (Debian packages %s)", strings.Join(missing, ", "),
		strings.Join(slices.Sorted(maps.Keys(pkgs)), " "))
}

// New prepares a containerd whose config, root, state, sockets and log all
// live in dir, an existing directory short enough for socket paths (108
// bytes). Start starts it; Close removes it with everything it ran.
func New(dir string) (*Daemon, error) {
	d := &Daemon{
		Dir:        dir,
		Address:    filepath.Join(dir, "containerd.sock"),
		configPath: filepath.Join(dir, "config.toml"),
		logPath:    filepath.Join(dir, "containerd.log"),
	}
	if err := os.WriteFile(d.configPath, []byte(d.config()), 0o600); err != nil {
		return nil, fmt.Errorf("write containerd config: %w", err)
	}
	return d, nil
}

// StartPrivate checks the binaries (naming the `test/deps.sh` target that
// installs them), creates dir and starts a containerd in it; on failure
// what was started is removed, with logf reporting leftovers.
func StartPrivate(dir, depsTarget string, logf func(format string, args ...any)) (*Daemon, error) {
	if err := CheckBinaries(); err != nil {
		return nil, fmt.Errorf("%w: run `test/deps.sh %s` as root", err, depsTarget)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d, err := New(dir)
	if err != nil {
		return nil, err
	}
	if err := d.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("containerd: %w\n%s", err, d.LogTail()), d.Close(logf))
	}
	return d, nil
}

// config is containerd 1.6's config (version 2): everything under Dir, no CRI
// (it would want CNI), and a debug socket of its own so it never collides
// with a system containerd's.
func (d *Daemon) config() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(d.Dir, "root"), filepath.Join(d.Dir, "state"), d.Address,
		d.Address+".ttrpc", filepath.Join(d.Dir, "debug.sock"), filepath.Join(d.Dir, "opt"))
}

// Start starts containerd and waits until it answers.
func (d *Daemon) Start() error {
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command("containerd", "--config", d.configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// runc lives in /usr/sbin, which a non-login PATH may lack.
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/local/sbin:/usr/sbin:/sbin")
	// Its own process group: a signal to the caller's group (a test's, a
	// terminal's Ctrl-C) does not reach it, and it outlives nothing but its
	// owner, which stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	return d.waitReady(done)
}

func (d *Daemon) waitReady(done <-chan struct{}) error {
	c, err := client.New(d.Address)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer c.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Version(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("containerd exited during start")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd not ready after %s: %w", readyTimeout, err)
		}
	}
}

// Running reports whether the daemon process is up.
func (d *Daemon) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Stop stops containerd (SIGTERM, then SIGKILL after a bound). Containers keep
// running under their shims, as with a real containerd restart.
func (d *Daemon) Stop() error {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
		return fmt.Errorf("containerd ignored SIGTERM for %s and was killed", stopTimeout)
	case <-time.After(stopTimeout):
		return fmt.Errorf("containerd (pid %d) survived SIGKILL", cmd.Process.Pid)
	}
}

// Client returns a client of this daemon, shared by every caller and closed
// by Close. It survives a restart (gRPC reconnects).
func (d *Daemon) Client() (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client == nil {
		c, err := client.New(d.Address)
		if err != nil {
			return nil, fmt.Errorf("containerd client: %w", err)
		}
		d.client = c
	}
	return d.client, nil
}

// LogTail returns the last lines of containerd's log, for failure messages.
func (d *Daemon) LogTail() string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// Close removes every container of this daemon, stops it, kills shims and
// container processes it leaves behind (each one logged with logf),
// unmounts and removes Dir.
func (d *Daemon) Close(logf func(format string, args ...any)) error {
	var errs []error
	if !d.Running() {
		// Containers outlive a stopped daemon; start it to remove them cleanly.
		if err := d.Start(); err != nil {
			logf("containerd: restart for cleanup: %v", err)
		}
	}
	if d.Running() {
		if err := removeAllContainers(d.Address); err != nil {
			errs = append(errs, fmt.Errorf("remove containers: %w", err))
		}
	}
	d.mu.Lock()
	if d.client != nil {
		_ = d.client.Close()
		d.client = nil
	}
	d.mu.Unlock()
	if err := d.Stop(); err != nil {
		errs = append(errs, err)
	}
	killLeftovers(d.Address, logf)
	if err := unmountUnder(d.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", d.Dir, err))
	}
	return errors.Join(errs...)
}

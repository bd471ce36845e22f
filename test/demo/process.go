package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// stopTimeout bounds how long a daemon may take to stop after SIGTERM; the
// agent needs up to 5 s to deliver its last alerts.
const stopTimeout = 20 * time.Second

// daemon is a vigil binary running in the background, its output in a log
// file.
type daemon struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done is closed
}

// startDaemon runs bin with args, stdout and stderr appended to logPath.
func startDaemon(name, bin, logPath string, args ...string) (*daemon, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C reaches the demo alone, which stops
	// the daemons in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	return d, nil
}

// waitReady waits until url answers 200, failing early if the daemon exits.
func (d *daemon) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	client := http.Client{Timeout: time.Second}
	ready := func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.After(timeout)
	for !ready() {
		select {
		case <-d.done:
			return fmt.Errorf("%s exited (%v) before it was ready; see %s", d.name, d.err, d.log)
		case <-deadline:
			return fmt.Errorf("%s not ready at %s after %s; see %s", d.name, url, timeout, d.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// stop sends SIGTERM and waits for the exit, killing it after stopTimeout.
func (d *daemon) stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	return fmt.Errorf("%s ignored SIGTERM for %s and was killed; see %s", d.name, stopTimeout, d.log)
}

package kubeenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// process is a server the environment started.
type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	// exited is closed when the process has exited; err is then its Wait's.
	exited chan struct{}
	err    error
}

// startProcess starts path in a process group of its own (so a stop reaches
// whatever it started too), writing its output to dir/NAME.log. The kernel
// kills it if the test binary dies before its cleanup can.
func startProcess(dir, name, path string, args ...string) (*process, error) {
	p := &process{name: name, log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop asks the process to end (SIGTERM) and kills its group if it has not
// within timeout, saying so through logf. An exit before stop was called is
// an error: the server died under the test.
func (p *process) stop(timeout time.Duration, logf func(string, ...any)) error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had exited before the test ended: %v", p.name, p.err)
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
		logf("%s did not end within %v of SIGTERM; killed", p.name, timeout)
	}
	// Nothing it started may outlive it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// tail is the end of the process's log.
func (p *process) tail(lines int) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.log, err)
	}
	data = bytes.TrimRight(data, "\n")
	for i, n := len(data)-1, 0; i >= 0; i-- {
		if data[i] == '\n' {
			if n++; n == lines {
				return string(data[i+1:])
			}
		}
	}
	return string(data)
}

package main

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// The workload's container: an image named like a registry's (containerd
// keeps the name as given), in the namespace Kubernetes' containers use.
const (
	labImage     = "vigil.bench/loop:1"
	labNamespace = "k8s.io"
	labContainer = "vigil-bench-loop"
	loopPath     = "/vigil-bench" // the bench binary, bind-mounted read-only
	opTimeout    = time.Minute
)

// lab is a private containerd running the container every loop runs in.
type lab struct {
	daemon    *ctrd.Daemon
	client    *client.Client
	ctx       context.Context // carries the namespace
	image     ctrd.Image
	container client.Container
	task      client.Task
	fifoDir   string
	execs     atomic.Int64
}

// startLab starts containerd in dir, imports the bench image and creates
// its container (not started: lab.start) on the host's network (the connect loop reaches the bench's
// loopback listener), the bench binary bind-mounted in.
func startLab(dir string) (*lab, error) {
	self, err := staticSelf()
	if err != nil {
		return nil, err
	}
	d, err := ctrd.StartPrivate(dir, "bench", logf)
	if err != nil {
		return nil, err
	}
	l := &lab{daemon: d, ctx: namespaces.WithNamespace(context.Background(), labNamespace), fifoDir: filepath.Join(dir, "fifo")}
	if err := l.setUp(dir, self); err != nil {
		return nil, errors.Join(err, l.close())
	}
	return l, nil
}

func (l *lab) setUp(dir, self string) error {
	var err error
	if l.client, err = l.daemon.Client(); err != nil {
		return err
	}
	files, err := ctrd.BusyboxFiles()
	if err != nil {
		return err
	}
	files = append(append(files, ctrd.RuntimeDirs()...), treeLayer()...)
	layer, err := ctrd.FilesLayer(files)
	if err != nil {
		return fmt.Errorf("image layer: %w", err)
	}
	l.image, err = ctrd.WriteImage(filepath.Join(dir, "loop.oci.tar"), labImage, []ctrd.Layer{layer},
		ocispec.ImageConfig{Env: []string{"PATH=/bin", loopEnv + "=1"}, Cmd: []string{"/bin/sleep", "2147483647"}})
	if err != nil {
		return fmt.Errorf("bench image: %w", err)
	}
	ctx, cancel := context.WithTimeout(l.ctx, opTimeout)
	defer cancel()
	img, err := l.importImage(ctx)
	if err != nil {
		return err
	}
	mount := specs.Mount{Destination: loopPath, Source: self, Type: "bind", Options: []string{"rbind", "ro"}}
	l.container, err = l.client.NewContainer(ctx, labContainer,
		client.WithImage(img),
		client.WithNewSnapshot(labContainer+"-snapshot", img),
		client.WithNewSpec(oci.WithImageConfig(img), oci.WithHostNamespace(specs.NetworkNamespace),
			oci.WithHostHostsFile, oci.WithMounts([]specs.Mount{mount})),
	)
	if err != nil {
		return fmt.Errorf("create the bench container: %w", err)
	}
	if l.task, err = l.container.NewTask(ctx, cio.NullIO); err != nil {
		return fmt.Errorf("create the bench container's task: %w", err)
	}
	return nil
}

// start starts the container's entrypoint (a sleep). The learning agent
// runs by then, so that the profile allows it as a learned one does.
func (l *lab) start() error {
	ctx, cancel := context.WithTimeout(l.ctx, opTimeout)
	defer cancel()
	if err := l.task.Start(ctx); err != nil {
		return fmt.Errorf("start the bench container: %w", err)
	}
	return nil
}

func (l *lab) importImage(ctx context.Context) (client.Image, error) {
	f, err := os.Open(l.image.Tar)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	imgs, err := l.client.Import(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", l.image.Name, err)
	}
	for _, got := range imgs {
		if got.Name == l.image.Name {
			img := client.NewImage(l.client, got)
			if err := img.Unpack(ctx, ""); err != nil {
				return nil, fmt.Errorf("unpack %s: %w", l.image.Name, err)
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("import of %s gave no image named %s", l.image.Tar, l.image.Name)
}

// staticSelf is the bench binary, which must run in a busybox container:
// it must not need a dynamic loader.
func staticSelf() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := elf.Open(self)
	if err != nil {
		return "", fmt.Errorf("read the bench binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New("the bench binary is linked dynamically and cannot run in its container: build it with CGO_ENABLED=0 (make bench does)")
		}
	}
	return self, nil
}

// Bounds of the waits on a loop child. A child that misses one is stuck
// (or its container is): the bench fails saying which, rather than hang.
const (
	loopReadyTimeout = 30 * time.Second // exec in the container until "ready"
	loopResultGrace  = 30 * time.Second // past the loop's own time limit
)

// loopProc is one loop child in the container.
type loopProc struct {
	args   []string
	proc   client.Process
	stdin  *io.PipeWriter
	lines  chan string   // its output, line by line; closed at its end
	exited chan struct{} // closed once it has exited and its output is read
	code   uint32        // its exit code, once exited is closed
}

// startLoop runs the bench binary in the container as a loop child with
// args and waits until it says it is ready.
func (l *lab) startLoop(args ...string) (*loopProc, error) {
	ctx, cancel := context.WithTimeout(l.ctx, opTimeout)
	defer cancel()
	spec, err := l.container.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("spec of the bench container: %w", err)
	}
	proc := *spec.Process
	proc.Args = append([]string{loopPath}, args...)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	id := "loop-" + strconv.FormatInt(l.execs.Add(1), 10)
	p, err := l.task.Exec(ctx, id, &proc, cio.NewCreator(cio.WithStreams(inR, outW, os.Stderr), cio.WithFIFODir(l.fifoDir)))
	if err != nil {
		return nil, fmt.Errorf("exec a loop in the bench container: %w", err)
	}
	exitC, err := p.Wait(l.ctx)
	if err == nil {
		err = p.Start(ctx)
	}
	if err != nil {
		_, _ = p.Delete(l.ctx, client.WithProcessKill)
		return nil, fmt.Errorf("start the loop: %w", err)
	}
	lp := &loopProc{args: args, proc: p, stdin: inW, lines: make(chan string, 4), exited: make(chan struct{})}
	go func() {
		lp.code = (<-exitC).ExitCode()
		p.IO().Wait()
		outW.Close() // the reader sees the end of its output
		close(lp.exited)
	}()
	go readLines(outR, lp.lines)
	if line, err := lp.readLine("ready", loopReadyTimeout); err != nil || strings.TrimSpace(line) != "ready" {
		lp.kill()
		return nil, fmt.Errorf("loop %v: %q %v (exit code %d)", args, line, err, lp.code)
	}
	return lp, nil
}

// readLines sends r's lines to lines and closes it at r's end.
func readLines(r io.Reader, lines chan<- string) {
	defer close(lines)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return // a line cut short by the child's end is no answer
		}
		lines <- line
	}
}

// readLine returns the child's next line, or fails when it ends without one
// or when timeout passes first.
func (lp *loopProc) readLine(what string, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line, ok := <-lp.lines:
		if !ok {
			return "", fmt.Errorf("loop %v ended without its %s", lp.args, what)
		}
		return line, nil
	case <-timer.C:
		return "", fmt.Errorf("loop %v stuck: no %s within %s", lp.args, what, timeout)
	}
}

// resultTimeout is how long the child may take to answer "go": its own
// time limit (its third argument, in milliseconds) and a grace.
func (lp *loopProc) resultTimeout() time.Duration {
	if len(lp.args) > 2 {
		if ms, err := strconv.Atoi(lp.args[2]); err == nil {
			return time.Duration(ms)*time.Millisecond + loopResultGrace
		}
	}
	return loopResultGrace
}

// run tells the child to go and returns the operations it did and the time
// they took.
func (lp *loopProc) run() (int, time.Duration, error) {
	line, err := lp.result()
	if err != nil {
		return 0, 0, err
	}
	return parseResult(line)
}

// result tells the child to go and returns the line it answers.
func (lp *loopProc) result() (string, error) {
	defer lp.kill()
	if _, err := io.WriteString(lp.stdin, "go\n"); err != nil {
		return "", fmt.Errorf("start the loop: %w", err)
	}
	line, err := lp.readLine("result", lp.resultTimeout())
	if err != nil {
		lp.kill()
		return "", fmt.Errorf("%w (exit code %d)", err, lp.code)
	}
	return line, nil
}

func parseResult(line string) (int, time.Duration, error) {
	opsText, nsText, ok := strings.Cut(strings.TrimSpace(line), " ")
	ops, err := strconv.Atoi(opsText)
	if err != nil || !ok {
		return 0, 0, fmt.Errorf("loop result %q: want ops and nanoseconds", line)
	}
	ns, err := strconv.ParseInt(nsText, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("loop result %q: %w", line, err)
	}
	return ops, time.Duration(ns), nil
}

// kill ends the child if it still runs and removes it. Killing twice is
// harmless: result kills a stuck child before its caller's deferred kill.
func (lp *loopProc) kill() {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), labNamespace), opTimeout)
	defer cancel()
	lp.stdin.Close()
	select {
	case <-lp.exited:
	case <-time.After(5 * time.Second):
		_ = lp.proc.Kill(ctx, syscall.SIGKILL)
		select {
		case <-lp.exited:
		case <-ctx.Done():
			logf("loop %v did not exit within %s of SIGKILL", lp.args, opTimeout)
			return
		}
	}
	_, _ = lp.proc.Delete(ctx)
}

// loopOnce runs one loop child to its end.
func (l *lab) loopOnce(args ...string) (int, time.Duration, error) {
	lp, err := l.startLoop(args...)
	if err != nil {
		return 0, 0, err
	}
	return lp.run()
}

// close removes the container and image, stops containerd and removes its
// directory.
func (l *lab) close() error {
	return l.daemon.Close(logf) // removes every container, closes the client
}

// logf reports what cleaning up had to do that should not have been needed.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

package containerdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// DefaultNamespace is the containerd namespace of Kubernetes' containers, and
// the harness's default.
const DefaultNamespace = "k8s.io"

// opTimeout bounds each containerd call of the harness.
const opTimeout = time.Minute

// RunOptions says what container Run or Create makes.
type RunOptions struct {
	// Image must have been imported into Namespace.
	Image Image
	// Namespace is the containerd namespace; DefaultNamespace when empty.
	Namespace string
	// ID is the container id; a random 64-hex id (like Kubernetes') when empty.
	ID string
	// Args replaces the image's command when set.
	Args []string
	// Labels are the container's labels (see CRILabels).
	Labels map[string]string
	// Binds maps host directories to paths in the container (read-write).
	Binds map[string]string
	// SpecOpts are applied last, after the image's config, Binds and Args:
	// host namespaces, capabilities, mounts and the like.
	SpecOpts []oci.SpecOpts
}

// CRILabels are the labels the CRI plugin puts on a Kubernetes container.
func CRILabels(pod, podNamespace, podUID, container string) map[string]string {
	return map[string]string{
		"io.kubernetes.pod.name":       pod,
		"io.kubernetes.pod.namespace":  podNamespace,
		"io.kubernetes.pod.uid":        podUID,
		"io.kubernetes.container.name": container,
		"io.cri-containerd.kind":       "container",
	}
}

// Container is a container with a task, made by Run or Create; it is killed
// and deleted in t.Cleanup.
type Container struct {
	ID        string
	Namespace string
	Container client.Container
	Task      client.Task
	// Output collects the task's stdout and stderr.
	Output *SyncBuffer

	exitC   <-chan client.ExitStatus
	ctx     context.Context // carries the namespace
	fifoDir string
}

// Run creates and starts a container.
func (d *Daemon) Run(t testing.TB, opts RunOptions) *Container {
	t.Helper()
	c := d.Create(t, opts)
	c.Start(t)
	return c
}

// Create creates a container and its task, not started: runc has made the
// cgroup and the init process waits before the entrypoint, as at
// /tasks/create.
func (d *Daemon) Create(t testing.TB, opts RunOptions) *Container {
	t.Helper()
	c, err := d.create(t, opts)
	if err != nil {
		t.Fatalf("containerd harness: %v", err)
	}
	return c
}

// TryRun creates and starts a container as Run does, but returns the error
// of creating or starting its task (runc's) instead of failing the test:
// for a container that may be stopped while it is set up.
func (d *Daemon) TryRun(t testing.TB, opts RunOptions) (*Container, error) {
	t.Helper()
	c, err := d.create(t, opts)
	if err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	if err := c.Task.Start(ctx); err != nil {
		return c, fmt.Errorf("start %s: %w", c.ID, err)
	}
	return c, nil
}

// create makes the container (failing the test if it cannot) and its task.
func (d *Daemon) create(t testing.TB, opts RunOptions) (*Container, error) {
	t.Helper()
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.ID == "" {
		opts.ID = RandomID()
	}
	cl := d.Client(t)
	ctx := namespaces.WithNamespace(context.Background(), opts.Namespace)
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	img, err := cl.GetImage(octx, opts.Image.Name)
	if err != nil {
		t.Fatalf("containerd harness: image %s in %s: %v", opts.Image.Name, opts.Namespace, err)
	}
	specOpts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithMounts(bindMounts(opts.Binds))}
	if len(opts.Args) > 0 {
		specOpts = append(specOpts, oci.WithProcessArgs(opts.Args...))
	}
	specOpts = append(specOpts, opts.SpecOpts...)
	ctr, err := cl.NewContainer(octx, opts.ID,
		client.WithImage(img),
		client.WithNewSnapshot(opts.ID+"-snapshot", img),
		client.WithContainerLabels(opts.Labels),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		t.Fatalf("containerd harness: new container %s: %v", opts.ID, err)
	}
	c := &Container{
		ID: opts.ID, Namespace: opts.Namespace, Container: ctr, Output: &SyncBuffer{},
		ctx: ctx, fifoDir: filepath.Join(d.Dir, "fifo"),
	}
	t.Cleanup(func() {
		if !d.Running() {
			return // the daemon's own cleanup restarts it and removes everything
		}
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		if err := ctrd.RemoveContainer(rctx, ctr); err != nil {
			t.Errorf("containerd harness: remove %s: %v", opts.ID, err)
		}
	})
	task, err := ctr.NewTask(octx, cio.NewCreator(cio.WithStreams(nil, c.Output, c.Output), cio.WithFIFODir(c.fifoDir)))
	if err != nil {
		return c, fmt.Errorf("new task %s: %w", opts.ID, err)
	}
	c.Task = task
	// Wait before Start, so a short-lived task's exit cannot be missed.
	if c.exitC, err = task.Wait(ctx); err != nil {
		return c, fmt.Errorf("wait %s: %w", opts.ID, err)
	}
	return c, nil
}

func bindMounts(binds map[string]string) []specs.Mount {
	var mounts []specs.Mount
	for host, dest := range binds {
		mounts = append(mounts, specs.Mount{
			Destination: dest, Source: host, Type: "bind", Options: []string{"rbind", "rw"},
		})
	}
	return mounts
}

// Start starts the container's task (its entrypoint runs).
func (c *Container) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	if err := c.Task.Start(ctx); err != nil {
		t.Fatalf("containerd harness: start %s: %v", c.ID, err)
	}
}

// Wait waits up to timeout for the task's init process to exit and returns
// its exit code.
func (c *Container) Wait(t testing.TB, timeout time.Duration) uint32 {
	t.Helper()
	code, exited := c.exitWithin(t, timeout)
	if !exited {
		t.Fatalf("containerd harness: %s still running after %s; output: %q", c.ID, timeout, c.Output.String())
	}
	return code
}

// exitWithin waits up to timeout for the init process to exit: its exit
// code, and whether it did.
func (c *Container) exitWithin(t testing.TB, timeout time.Duration) (uint32, bool) {
	t.Helper()
	select {
	case st := <-c.exitC:
		code, _, err := st.Result()
		if err != nil {
			t.Fatalf("containerd harness: wait %s: %v", c.ID, err)
		}
		return code, true
	case <-time.After(timeout):
		return 0, false
	}
}

// Kill sends SIGKILL to the container's init process and waits for it to exit.
func (c *Container) Kill(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	if err := c.Task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatalf("containerd harness: kill %s: %v", c.ID, err)
	}
	c.Wait(t, opTimeout)
}

// Status returns the state of the container's task: running, or stopped
// with its exit status, and so on.
func (c *Container) Status(t testing.TB) client.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	st, err := c.Task.Status(ctx)
	if err != nil {
		t.Fatalf("containerd harness: status of %s: %v", c.ID, err)
	}
	return st
}

// Stop stops the container as a runtime does: SIGTERM, then SIGKILL if its
// init process has not exited after grace. It returns the exit code.
func (c *Container) Stop(t testing.TB, grace time.Duration) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	if err := c.Task.Kill(ctx, syscall.SIGTERM); err != nil {
		if errdefs.IsNotFound(err) { // it exited before
			return c.Wait(t, opTimeout)
		}
		t.Fatalf("containerd harness: stop %s: %v", c.ID, err)
	}
	if code, exited := c.exitWithin(t, grace); exited {
		return code
	}
	if err := c.Task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		t.Fatalf("containerd harness: kill %s: %v", c.ID, err)
	}
	return c.Wait(t, opTimeout)
}

// Exec runs args in the running container, like `ctr task exec`, and returns
// its exit code and combined output.
func (c *Container) Exec(t testing.TB, args ...string) (uint32, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	spec, err := c.Container.Spec(ctx)
	if err != nil {
		t.Fatalf("containerd harness: spec of %s: %v", c.ID, err)
	}
	proc := *spec.Process
	proc.Args = args
	var out SyncBuffer
	execID := "exec-" + RandomID()[:12]
	p, err := c.Task.Exec(ctx, execID, &proc, cio.NewCreator(cio.WithStreams(nil, &out, &out), cio.WithFIFODir(c.fifoDir)))
	if err != nil {
		t.Fatalf("containerd harness: exec in %s: %v", c.ID, err)
	}
	defer func() { _, _ = p.Delete(ctx) }() // the exit status is what the caller wants
	exitC, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("containerd harness: wait exec in %s: %v", c.ID, err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatalf("containerd harness: start exec in %s: %v", c.ID, err)
	}
	select {
	case st := <-exitC:
		code, _, err := st.Result()
		if err != nil {
			t.Fatalf("containerd harness: exec in %s: %v", c.ID, err)
		}
		p.IO().Wait() // all output copied
		return code, out.String()
	case <-ctx.Done():
		t.Fatalf("containerd harness: exec %v in %s did not finish in %s", args, c.ID, opTimeout)
		return 0, ""
	}
}

// RandomID returns a random 64-hex id, the form Kubernetes container ids take.
func RandomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// SyncBuffer is a bytes.Buffer safe for a task's output copier and a reader.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

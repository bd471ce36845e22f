package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// ctrdTimeout bounds each containerd call of the demo.
const ctrdTimeout = time.Minute

// containerRuntime is the containerd the demo's container runs in: the
// node's, or a private one under the state directory.
type containerRuntime struct {
	socket    string
	namespace string
	fifoDir   string
	private   *ctrd.Daemon // nil when the node's containerd is used
	client    *client.Client
	image     string   // imported image, deleted at close
	ids       []string // containers started, removed at close
	execs     int      // exec ids handed out
}

// nodeContainerd reports whether a containerd answers at socket.
func nodeContainerd(socket string) bool {
	if _, err := os.Stat(socket); err != nil {
		return false
	}
	c, err := client.New(socket)
	if err != nil {
		return false
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.Version(ctx)
	return err == nil
}

// useContainerd connects to the node's containerd at socket.
func useContainerd(socket, namespace, fifoDir string) (*containerRuntime, error) {
	c, err := client.New(socket)
	if err != nil {
		return nil, fmt.Errorf("containerd client: %w", err)
	}
	return &containerRuntime{socket: socket, namespace: namespace, fifoDir: fifoDir, client: c}, nil
}

// startContainerd starts a private containerd in dir.
func startContainerd(dir, namespace, fifoDir string) (*containerRuntime, error) {
	d, err := ctrd.StartPrivate(dir, "demo", logf)
	if err != nil {
		return nil, err
	}
	c, err := d.Client()
	if err != nil {
		return nil, errors.Join(err, d.Close(logf))
	}
	return &containerRuntime{socket: d.Address, namespace: namespace, fifoDir: fifoDir, private: d, client: c}, nil
}

// logf reports what cleaning up had to do that should not have been needed.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
}

// ctr is the ctr command line for this containerd and namespace, the way a
// user types it.
func (r *containerRuntime) ctr(args ...string) []string {
	return append([]string{"ctr", "-a", r.socket, "-n", r.namespace}, args...)
}

// importImage imports an OCI image-layout tar with ctr, which unpacks it,
// and removes the tar.
func (r *containerRuntime) importImage(ctx context.Context, img ctrd.Image) error {
	out, err := command(ctx, r.ctr("images", "import", img.Tar)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import: %w: %s", err, out)
	}
	r.image = img.Name
	return os.Remove(img.Tar)
}

// run starts a container of image, detached, its output discarded. Its
// cgroup has no parent of the demo's to leave behind, and a private
// containerd's runc keeps its state in the containerd's directory.
func (r *containerRuntime) run(ctx context.Context, image, id string) error {
	args := []string{"run", "-d", "--null-io", "--fifo-dir", r.fifoDir, "--cgroup", "/" + r.namespace + "-" + id}
	if r.private != nil {
		args = append(args, "--runc-root", filepath.Join(r.private.Dir, "runc"))
	}
	args = r.ctr(append(args, image, id)...)
	if out, err := command(ctx, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
	}
	r.ids = append(r.ids, id)
	return nil
}

// execArgs is the command line that runs script in container id.
func (r *containerRuntime) execArgs(id, script string) []string {
	r.execs++
	return r.ctr("task", "exec", "--fifo-dir", r.fifoDir, "--exec-id", fmt.Sprintf("demo-%d", r.execs), id, "sh", "-c", script)
}

// exec runs script in container id and returns its output and exit code.
func (r *containerRuntime) exec(ctx context.Context, id, script string) (string, int, error) {
	cmd := command(ctx, r.execArgs(id, script)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return string(out), exit.ExitCode(), nil
	case err != nil:
		return string(out), 0, fmt.Errorf("ctr task exec: %w", err)
	}
	return string(out), 0, nil
}

// close removes the demo's containers, image and namespace and, if it is
// private, stops containerd and removes its directory.
func (r *containerRuntime) close() error {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), r.namespace), ctrdTimeout)
	defer cancel()
	var errs []error
	for _, id := range r.ids {
		c, err := r.client.LoadContainer(ctx, id)
		if err == nil {
			err = ctrd.RemoveContainer(ctx, c)
		}
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", id, err))
		}
	}
	if r.image != "" {
		if err := r.client.ImageService().Delete(ctx, r.image, images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete image %s: %w", r.image, err))
		}
	}
	// A namespace still holding something (not the demo's) stays.
	if err := r.client.NamespaceService().Delete(ctx, r.namespace); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		errs = append(errs, fmt.Errorf("delete namespace %s: %w", r.namespace, err))
	}
	if r.private != nil {
		errs = append(errs, r.private.Close(logf)) // closes the client too
	} else {
		errs = append(errs, r.client.Close())
	}
	errs = append(errs, os.RemoveAll(r.fifoDir))
	return errors.Join(errs...)
}

// command is a child in a process group of its own, so that a Ctrl-C
// reaches the demo alone; ctx ending kills it.
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// runc and ctr live in /usr/sbin and /usr/bin, which a non-login PATH may lack.
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/local/sbin:/usr/sbin:/sbin")
	return cmd
}

// stateFile is a path in the demo's state directory.
func stateFile(cfg config, name ...string) string {
	return filepath.Join(append([]string{cfg.stateDir}, name...)...)
}

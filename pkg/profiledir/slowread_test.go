package profiledir

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/vigil-dev/vigil/test/testutil"
)

// stuckFile is a FUSE file whose reads block until release is closed: a
// hung network filesystem, which the kernel does not let a reader escape.
type stuckFile struct {
	fs.Inode
	reading chan struct{} // closed at the first read
	once    sync.Once
	release chan struct{}
}

func (f *stuckFile) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o644
	out.Size = 4096
	return 0
}

func (f *stuckFile) Open(context.Context, uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *stuckFile) Read(_ context.Context, _ fs.FileHandle, _ []byte, _ int64) (fuse.ReadResult, syscall.Errno) {
	f.once.Do(func() { close(f.reading) })
	<-f.release
	return nil, syscall.EIO
}

// mountStuckFile mounts a FUSE filesystem holding one stuck file and
// returns the file's path.
func mountStuckFile(t *testing.T, f *stuckFile) string {
	t.Helper()
	mnt := t.TempDir()
	root := &fs.Inode{}
	server, err := fs.Mount(mnt, root, &fs.Options{
		MountOptions: fuse.MountOptions{DirectMountStrict: true, FsName: "vigil-stuck"},
		OnAdd: func(ctx context.Context) {
			root.AddChild("stuck.yaml", root.NewPersistentInode(ctx, f, fs.StableAttr{Mode: syscall.S_IFREG}), false)
		},
	})
	if err != nil {
		t.Fatalf("mount FUSE: %v", err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount FUSE: %v", err)
		}
	})
	return filepath.Join(mnt, "stuck.yaml")
}

func TestLoaderShutdownDuringStuckRead(t *testing.T) {
	testutil.RequireRoot(t)
	f := &stuckFile{reading: make(chan struct{}), release: make(chan struct{})}
	stuck := mountStuckFile(t, f)
	t.Cleanup(func() { close(f.release) }) // runs before the unmount
	e := newLoaderEnv(t, WithResync(time.Hour))
	if err := os.Symlink(stuck, filepath.Join(e.dir, "api.yaml")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.l.Run(ctx) }()
	select {
	case <-f.reading:
	case <-time.After(10 * time.Second):
		t.Fatal("the loader never read the stuck file")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s of shutdown while a read was stuck")
	}
}

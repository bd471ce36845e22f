package profiledir

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// manyEntries is a valid profile document for digest with n executables.
func manyEntries(digest string, n int) string {
	var b strings.Builder
	b.WriteString(strings.SplitAfter(profileDoc(digest, 2), "spec:\n")[0])
	b.WriteString("  executables:\n")
	for i := range n {
		fmt.Fprintf(&b, "    - path: /app/bin/%d\n", i)
	}
	return b.String()
}

// reloadWithin runs Reload and fails the test if it does not return in d.
func reloadWithin(t *testing.T, l *Loader, d time.Duration, what string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Reload() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("Reload with %s did not return in %v", what, d)
		return nil
	}
}

// loadVersion1 puts version 1 of api.yaml in force.
func (e *loaderEnv) loadVersion1(t *testing.T) {
	t.Helper()
	e.write(t, "api.yaml", profileDoc(digestAPI, 1))
	if err := e.l.Reload(); err != nil {
		t.Fatal(err)
	}
}

// checkRejected checks that api.yaml was refused for reason with an error
// naming it and containing want, and that version 1 stays in force.
func (e *loaderEnv) checkRejected(t *testing.T, err error, reason, want string) {
	t.Helper()
	path := filepath.Join(e.dir, "api.yaml")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
		t.Errorf("Reload error %v: want %s and %q", err, path, want)
	}
	if got := e.rejected(t, reason); got != 1 {
		t.Errorf("rejected{%s} = %v, want 1", reason, got)
	}
	if v := e.version(t, digestAPI); v != 1 {
		t.Errorf("version %d in force, want the previous valid one (1)", v)
	}
}

func TestLoaderRefusesOversizedProfileWithBoundedMemory(t *testing.T) {
	e := newLoaderEnv(t)
	e.loadVersion1(t)
	e.write(t, "api.yaml", manyEntries(digestAPI, 1_000_000))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := reloadWithin(t, e.l, 30*time.Second, "a 1 000 000-entry file")
	runtime.ReadMemStats(&after)
	const bound = 1 << 20
	if got := after.TotalAlloc - before.TotalAlloc; got > bound {
		t.Errorf("refusing a 1 000 000-entry profile allocated %d bytes, want at most %d", got, bound)
	}
	e.checkRejected(t, err, "too_large", "over the limit of")
}

func TestLoaderRefusesTooManyEntries(t *testing.T) {
	e := newLoaderEnv(t)
	e.loadVersion1(t)
	// Small in bytes, but one entry over the default limit of a list.
	e.write(t, "api.yaml", manyEntries(digestAPI, 2049))
	e.checkRejected(t, e.l.Reload(), "too_large", "2049 executables, over the limit of 2048")
}

func TestLoaderRefusesDevZeroQuickly(t *testing.T) {
	e := newLoaderEnv(t)
	e.loadVersion1(t)
	path := filepath.Join(e.dir, "api.yaml")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", path); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := reloadWithin(t, e.l, 2*time.Second, "a symlink to /dev/zero")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("refusing /dev/zero took %v", d)
	}
	e.checkRejected(t, err, "not_regular", "not a regular file")
}

func TestLoaderFIFODoesNotBlock(t *testing.T) {
	e := newLoaderEnv(t, WithResync(time.Hour))
	if err := syscall.Mkfifo(filepath.Join(e.dir, "api.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	runLoader(t, e.l)
	e.write(t, "web.yaml", profileDoc(digestWeb, 1))
	waitFor(t, e.l, "a valid file added after a FIFO", func() bool { _, ok := e.l.Profiles().Get(digestWeb); return ok })
	if r := e.l.Rejected(); len(r) != 1 || !strings.HasSuffix(r[0].File, "api.yaml") || !strings.Contains(r[0].Err.Error(), "not a regular file") {
		t.Errorf("Rejected() = %v, want the FIFO api.yaml as not a regular file", r)
	}
	if got := e.rejected(t, "not_regular"); got != 1 {
		t.Errorf("rejected{not_regular} = %v, want 1", got)
	}
}

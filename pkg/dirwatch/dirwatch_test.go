//go:build linux

package dirwatch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchSeesChangesAndEnds creates a file in a watched directory (an
// event), then removes the directory: the events channel closes.
func TestWatchSeesChangesAndEnds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "watched")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-w.Events():
		if !ok {
			t.Fatal("the watch ended on a new file")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event for a new file")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the watch did not end with its directory")
		}
	}
}

// TestCloseEndsWatch closes the events channel on Close.
func TestCloseEndsWatch(t *testing.T) {
	w, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	select {
	case _, ok := <-w.Events():
		if ok {
			t.Fatal("an event after Close, with no change made")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the events channel stayed open after Close")
	}
}

func TestNewFailsOnMissingDirectory(t *testing.T) {
	if _, err := New(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("watching a missing directory succeeded")
	}
}

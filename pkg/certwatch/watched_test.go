package certwatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseUpper(c [][]byte) (string, error) {
	s := string(c[0])
	if strings.Contains(s, "bad") {
		return "", errors.New("bad content")
	}
	return strings.ToUpper(s), nil
}

func TestReloadSwapsOnlyGoodChanges(t *testing.T) {
	f := filepath.Join(t.TempDir(), "v")
	write := func(s string) {
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	w, err := New(parseUpper, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Current(); got != "ONE" {
		t.Fatalf("current %q", got)
	}
	if changed, err := w.Reload(); changed || err != nil {
		t.Fatalf("unchanged file: changed %v, err %v", changed, err)
	}
	write("bad")
	if changed, err := w.Reload(); changed || err == nil {
		t.Fatalf("broken file: changed %v, err %v", changed, err)
	}
	if got := w.Current(); got != "ONE" {
		t.Fatalf("a broken file replaced the value: %q", got)
	}
	os.Remove(f)
	if _, err := w.Reload(); err == nil {
		t.Fatal("missing file: no error")
	}
	write("two")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reports := make(chan error, 4)
	go w.Run(ctx, 10*time.Millisecond, func(err error) { reports <- err })
	select {
	case err := <-reports:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not reload")
	}
	if got := w.Current(); got != "TWO" {
		t.Fatalf("after Run: %q", got)
	}
	if _, err := New(parseUpper, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("New of a missing file: no error")
	}
}

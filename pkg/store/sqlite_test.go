package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func openTestSQLite(t *testing.T) Store {
	s, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "sub", "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	runSuite(t, openTestSQLite)
}

func TestSQLiteReopenKeepsAlerts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.db")
	ctx := testCtx(t)
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, alert("n1", "kept", t0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if isNew := put(t, s, alert("n1", "kept", t0)); isNew[0] {
		t.Fatal("alert stored before the reopen was stored again")
	}
}

func TestOpenRejectsEmptyDSN(t *testing.T) {
	if _, err := Open(context.Background(), ""); err == nil {
		t.Fatal("empty DSN accepted")
	}
}

// TestSQLiteFilesArePrivate: the database, its WAL and its shared-memory
// file hold every alert; they are 0600 in a 0700 directory whatever the
// umask, and a database left readable by an older version is made private.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "vigil.db")
	s, err := OpenSQLite(testCtx(t), path)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, alert("n1", "a", t0))
	check := func() {
		t.Helper()
		for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != want {
				t.Errorf("%s is %v, want %v", filepath.Base(name), fi.Mode(), want)
			}
		}
	}
	check()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(testCtx(t), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put(t, s, alert("n1", "b", t0))
	check()
}

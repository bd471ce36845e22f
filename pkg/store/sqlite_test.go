package store

import (
	"context"
	"path/filepath"
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

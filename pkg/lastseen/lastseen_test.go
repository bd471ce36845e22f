package lastseen

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMarkRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := New(dir)
	if _, ok, err := m.Read(); err != nil || ok {
		t.Fatalf("first start: ok=%v err=%v, want no mark", ok, err)
	}
	at := time.Date(2026, 12, 6, 21, 0, 0, 123456789, time.FixedZone("x", 3600))
	if err := m.Record(at); err != nil {
		t.Fatal(err)
	}
	got, ok, err := New(dir).Read()
	if err != nil || !ok || !got.Equal(at) {
		t.Fatalf("Read = %v %v %v, want %v", got, ok, err, at)
	}
	if err := os.WriteFile(filepath.Join(dir, fileName), []byte("yesterday"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Read(); err == nil {
		t.Error("a garbled mark read without error")
	}
}

package profile

import (
	"strings"
	"testing"
	"time"
)

// TestIoUringEntries learns io_uring operations, writes them as YAML and
// reads them back, refuses names the kernel has no operation for, and
// shows them in a diff; a profile without them says nothing of io_uring.
func TestIoUringEntries(t *testing.T) {
	d, err := NewDraft("app:1", testDigest("app:1"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, op := range []IoUringOp{IoUringSetup, 22, IoUringSetup} {
		if _, err := d.Observe(Observation{Kind: KindIoUring, IoUring: op, ContainerID: "c1", Time: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Observe(Observation{Kind: KindIoUring, IoUring: 200, Time: now}); err == nil {
		t.Error("an operation no kernel defines was learned")
	}
	p := d.Profile()
	if got := p.Spec.IoUring; len(got) != 2 || got[0].Op != 22 || got[1].Op != IoUringSetup || got[1].Evidence.Count != 2 {
		t.Fatalf("learned %+v, want READ and SETUP (seen twice)", got)
	}
	doc, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "  ioUring:\n    - op: READ\n") || !strings.Contains(string(doc), "    - op: SETUP\n") {
		t.Errorf("encoded:\n%s", doc)
	}
	back, err := Decode("app.yaml", doc)
	if err != nil {
		t.Fatal(err)
	}
	if ok, rule := back.Allows(Observation{Kind: KindIoUring, IoUring: IoUringSetup}); !ok || rule != "ioUring: SETUP" {
		t.Errorf("decoded profile judges SETUP %v, %q", ok, rule)
	}

	bad := strings.Replace(string(doc), "op: READ", "op: IORING_OP_READ", 1)
	if _, err := Decode("app.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "without IORING_OP_") {
		t.Errorf("decoding an IORING_OP_ name: %v", err)
	}
	if err := (&Profile{Metadata: Metadata{Digest: testDigest("app:1")}, Spec: Spec{IoUring: []IoUringEntry{{Op: 99}}}}).Validate(); err == nil {
		t.Error("an unknown operation validates")
	}

	none := &Profile{Metadata: p.Metadata}
	empty, err := Encode(none)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(empty), "ioUring") {
		t.Errorf("a profile without io_uring mentions it:\n%s", empty)
	}
	diff, err := Compare("old", none, "new", p)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff.Lists) != 1 || diff.Lists[0].List != ListIoUring || strings.Join(diff.Lists[0].Added, ",") != "READ,SETUP" {
		t.Errorf("diff = %+v", diff.Lists)
	}
}

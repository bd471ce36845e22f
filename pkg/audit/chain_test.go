package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

func chain(n int) []*vigilv1.AuditRecord {
	var out []*vigilv1.AuditRecord
	var prev *vigilv1.AuditRecord
	for i := range n {
		r := &vigilv1.AuditRecord{Time: timestamppb.New(time.Unix(1700000000, int64(i))), Actor: "consumer:alice",
			Action: "profile.mode", Object: "profile:sha256:a", Before: "v1 learn", After: "v2 enforce"}
		Link(prev, r)
		out, prev = append(out, r), r
	}
	return out
}

// TestCanonicalEncoding pins the encoding, spelled out byte by byte: a
// change to Canonical would make every stored chain fail to verify.
func TestCanonicalEncoding(t *testing.T) {
	r := &vigilv1.AuditRecord{Seq: 1, Time: timestamppb.New(time.Unix(0, 5)), Actor: "a", Action: "b", Object: "c", PrevHash: "p", Hash: "ignored"}
	u64 := func(n byte) string { return "\x00\x00\x00\x00\x00\x00\x00" + string(n) }
	want := "vigil-audit-v1\x00" + u64(1) + u64(5) +
		u64(1) + "a" + u64(1) + "b" + u64(1) + "c" + u64(0) + u64(0) + u64(0) + u64(1) + "p"
	if got := string(Canonical(r)); got != want {
		t.Fatalf("canonical encoding\n got %q\nwant %q", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if Hash(r) != hex.EncodeToString(sum[:]) {
		t.Fatal("hash is not SHA-256 of the canonical encoding")
	}
}

// TestFieldBoundaries: moving bytes from one field to the next changes the
// hash (fields are length-prefixed, not just concatenated).
func TestFieldBoundaries(t *testing.T) {
	a := &vigilv1.AuditRecord{Actor: "ab", Action: "c", Object: "o", Time: timestamppb.New(time.Unix(1, 0))}
	b := &vigilv1.AuditRecord{Actor: "a", Action: "bc", Object: "o", Time: timestamppb.New(time.Unix(1, 0))}
	if Hash(a) == Hash(b) {
		t.Fatal("records differing in field boundaries hash alike")
	}
}

func TestVerifier(t *testing.T) {
	check := func(name string, recs []*vigilv1.AuditRecord, wantSeq int64) {
		t.Helper()
		var v Verifier
		var err error
		for _, r := range recs {
			if err = v.Next(r); err != nil {
				break
			}
		}
		var broken *BrokenError
		switch {
		case wantSeq == 0 && err != nil:
			t.Errorf("%s: %v", name, err)
		case wantSeq != 0 && (!errors.As(err, &broken) || broken.Seq != wantSeq):
			t.Errorf("%s: %v, want broken at %d", name, err, wantSeq)
		}
	}
	good := chain(5)
	check("intact", good, 0)

	changed := chain(5)
	changed[2].Detail = "edited"
	check("changed content", changed, 3)

	rehashed := chain(5)
	rehashed[2].Actor = "consumer:mallory"
	rehashed[2].Hash = Hash(rehashed[2])
	check("changed and rehashed", rehashed, 4)

	check("removed record", append(chain(5)[:2], chain(5)[3:]...), 3)
	check("removed first record", chain(5)[1:], 1)
	check("swapped", []*vigilv1.AuditRecord{good[0], good[2], good[1]}, 2)

	var v Verifier
	for _, r := range good {
		v.Next(r)
	}
	if v.Count() != 5 || v.Head() != good[4].GetHash() {
		t.Fatalf("count %d head %s", v.Count(), v.Head())
	}
}

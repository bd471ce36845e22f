package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// Genesis is the prev_hash of the first record: the chain's anchor.
var Genesis = strings.Repeat("0", 2*sha256.Size)

// domain separates these hashes from any other SHA-256 use; a new encoding
// gets a new domain.
const domain = "vigil-audit-v1\x00"

// Canonical is the encoding a record's hash covers: its sequence number and
// time (nanoseconds since the epoch, UTC) as 8-byte big-endian integers,
// then actor, action, object, before, after, detail and prev_hash, each as
// an 8-byte big-endian length and its bytes. The hash itself is left out.
func Canonical(r *vigilv1.AuditRecord) []byte {
	fields := []string{r.GetActor(), r.GetAction(), r.GetObject(), r.GetBefore(), r.GetAfter(), r.GetDetail(), r.GetPrevHash()}
	size := len(domain) + 16
	for _, f := range fields {
		size += 8 + len(f)
	}
	b := make([]byte, 0, size)
	b = append(b, domain...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.GetSeq()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.GetTime().AsTime().UnixNano()))
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// Hash is the hex SHA-256 of a record's canonical encoding.
func Hash(r *vigilv1.AuditRecord) string {
	sum := sha256.Sum256(Canonical(r))
	return hex.EncodeToString(sum[:])
}

// Link makes r the record after prev (nil: r is the first record): it sets
// r's sequence number, prev_hash and hash.
func Link(prev, r *vigilv1.AuditRecord) {
	r.Seq, r.PrevHash = 1, Genesis
	if prev != nil {
		r.Seq, r.PrevHash = prev.GetSeq()+1, prev.GetHash()
	}
	r.Hash = Hash(r)
}

// BrokenError names the first record of a chain that does not verify.
type BrokenError struct {
	// Seq is the broken record's sequence number (or, for a missing
	// record, the one expected).
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at record %d: %s", e.Seq, e.Reason)
}

// Verifier checks a chain one record at a time, in order from the first.
type Verifier struct {
	prev  *vigilv1.AuditRecord
	count int64
}

// Next checks r against the record before it; it returns a *BrokenError
// for the first record that does not follow.
func (v *Verifier) Next(r *vigilv1.AuditRecord) error {
	wantSeq, wantPrev := int64(1), Genesis
	if v.prev != nil {
		wantSeq, wantPrev = v.prev.GetSeq()+1, v.prev.GetHash()
	}
	switch {
	case r.GetSeq() != wantSeq:
		return &BrokenError{Seq: wantSeq, Reason: fmt.Sprintf("record %d is missing (next stored is %d)", wantSeq, r.GetSeq())}
	case r.GetPrevHash() != wantPrev:
		return &BrokenError{Seq: r.GetSeq(), Reason: "its prev_hash is not the hash of the record before it"}
	case Hash(r) != r.GetHash():
		return &BrokenError{Seq: r.GetSeq(), Reason: "its content does not match its hash (the record was changed)"}
	}
	v.prev = r
	v.count++
	return nil
}

// Count is how many records verified.
func (v *Verifier) Count() int64 { return v.count }

// Head is the hash of the last record verified (Genesis when none was):
// note it to detect, later, records removed from the end.
func (v *Verifier) Head() string {
	if v.prev == nil {
		return Genesis
	}
	return v.prev.GetHash()
}

package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/audit"
)

func auditRecord(actor, action, object string, at time.Time) *vigilv1.AuditRecord {
	return &vigilv1.AuditRecord{Time: timestamppb.New(at), Actor: actor, Action: action, Object: object,
		Before: "v1 learn", After: "v2 enforce", Detail: "why"}
}

func allAudit(t *testing.T, s Store) []*vigilv1.AuditRecord {
	t.Helper()
	recs, truncated, err := s.AuditRecords(testCtx(t), AuditQuery{Limit: MaxLimit})
	if err != nil || truncated {
		t.Fatalf("audit records: %v (truncated %v)", err, truncated)
	}
	return recs
}

func verifyChain(recs []*vigilv1.AuditRecord) error {
	var v audit.Verifier
	for _, r := range recs {
		if err := v.Next(r); err != nil {
			return err
		}
	}
	return nil
}

func testAuditChain(t *testing.T, s Store) {
	ctx := testCtx(t)
	if recs := allAudit(t, s); len(recs) != 0 {
		t.Fatalf("new store has %d audit records", len(recs))
	}
	in := []*vigilv1.AuditRecord{
		auditRecord("collector:h", "collector.config", "collector", t0),
		auditRecord("consumer:alice", "profile.import", "profile:sha256:a", t0.Add(time.Minute)),
		auditRecord("consumer:bob", "profile.mode", "profile:sha256:a", t0.Add(2*time.Minute)),
		auditRecord("node:n1", "profile.merge", "profile:sha256:b", t0.Add(3*time.Minute)),
		auditRecord("consumer:alice", "profile.mode", "profile:100%_x", t0.Add(4*time.Minute)),
	}
	for _, r := range in {
		if err := s.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(ctx, &vigilv1.AuditRecord{Action: "x"}); err == nil {
		t.Fatal("record without an actor appended")
	}
	recs := allAudit(t, s)
	if len(recs) != len(in) {
		t.Fatalf("%d records, want %d", len(recs), len(in))
	}
	for i, r := range recs {
		if r.GetSeq() != int64(i+1) || r.GetHash() != in[i].GetHash() || r.GetActor() != in[i].GetActor() || !r.GetTime().AsTime().Equal(in[i].GetTime().AsTime()) {
			t.Fatalf("record %d = %v, appended %v", i, r, in[i])
		}
	}
	if recs[0].GetPrevHash() != audit.Genesis || recs[1].GetPrevHash() != recs[0].GetHash() {
		t.Fatalf("chain not linked: %v", recs[:2])
	}
	if err := verifyChain(recs); err != nil {
		t.Fatal(err)
	}

	for name, c := range map[string]struct {
		q    AuditQuery
		want []int64
	}{
		"actor":          {AuditQuery{Actor: "consumer:alice"}, []int64{2, 5}},
		"action":         {AuditQuery{Action: "profile.mode"}, []int64{3, 5}},
		"object":         {AuditQuery{Object: "profile:sha256:a"}, []int64{2, 3}},
		"object prefix":  {AuditQuery{Object: "profile:sha256:*"}, []int64{2, 3, 4}},
		"prefix literal": {AuditQuery{Object: "profile:100%*"}, []int64{5}},
		"time":           {AuditQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []int64{2, 3}},
		"after seq":      {AuditQuery{AfterSeq: 3}, []int64{4, 5}},
	} {
		got, _, err := s.AuditRecords(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, r := range got {
			seqs = append(seqs, r.GetSeq())
		}
		if fmt.Sprint(seqs) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", name, seqs, c.want)
		}
	}
	page, truncated, err := s.AuditRecords(ctx, AuditQuery{AfterSeq: 1, Limit: 2})
	if err != nil || !truncated || len(page) != 2 || page[1].GetSeq() != 3 {
		t.Fatalf("limited page: %v %v %v", page, truncated, err)
	}
}

// testAuditAppendOnly: the database refuses to change or delete a record;
// a record changed once that is out of the way breaks the chain at that
// record.
func testAuditAppendOnly(t *testing.T, s Store) {
	ctx := testCtx(t)
	for i := range 4 {
		if err := s.AppendAudit(ctx, auditRecord("consumer:alice", "profile.mode", fmt.Sprintf("profile:%d", i), t0)); err != nil {
			t.Fatal(err)
		}
	}
	db := sqlOf(s).writes
	if _, err := db.ExecContext(ctx, "UPDATE audit SET actor = 'consumer:mallory' WHERE seq = 2"); err == nil {
		t.Fatal("UPDATE of an audit record accepted")
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM audit WHERE seq = 4"); err == nil {
		t.Fatal("DELETE of an audit record accepted")
	}
	if err := verifyChain(allAudit(t, s)); err != nil {
		t.Fatalf("chain after refused changes: %v", err)
	}
	tamperAudit(t, s, "UPDATE audit SET actor = 'consumer:mallory' WHERE seq = 2")
	var broken *audit.BrokenError
	if err := verifyChain(allAudit(t, s)); !errors.As(err, &broken) || broken.Seq != 2 {
		t.Fatalf("changed record 2: verify says %v", err)
	}
}

// tamperAudit runs stmt on the audit table with its append-only triggers
// disabled, as someone with the database's owner rights could.
func tamperAudit(t *testing.T, s Store, stmt string) {
	t.Helper()
	ss := sqlOf(s)
	var off, on []string
	switch ss.d.name {
	case "sqlite":
		off = []string{"DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"}
	default:
		off = []string{"ALTER TABLE audit DISABLE TRIGGER USER"}
		on = []string{"ALTER TABLE audit ENABLE TRIGGER USER"}
	}
	ctx := testCtx(t)
	for _, q := range append(append(off, stmt), on...) {
		if _, err := ss.writes.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func testAuditConcurrentAppends(t *testing.T, s Store) {
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				errs <- s.AppendAudit(ctx, auditRecord(fmt.Sprintf("consumer:w%d", w), "profile.mode", fmt.Sprintf("profile:%d", i), time.Now()))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs := allAudit(t, s)
	if len(recs) != 40 {
		t.Fatalf("%d records, want 40", len(recs))
	}
	if err := verifyChain(recs); err != nil {
		t.Fatal(err)
	}
}

// sqlOf is the SQL store under s.
func sqlOf(s Store) *sqlStore {
	if pg, ok := s.(*pgStore); ok {
		return pg.sqlStore
	}
	return s.(*sqlStore)
}

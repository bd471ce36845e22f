package store

import (
	"fmt"
	"testing"
)

func testSinkCursors(t *testing.T, s Store) {
	ctx := testCtx(t)
	if first, last, err := s.AlertSeqRange(ctx); err != nil || first != 0 || last != 0 {
		t.Fatalf("range of an empty store: %d %d %v", first, last, err)
	}
	for i := range 5 {
		put(t, s, alert("n1", fmt.Sprintf("a%d", i), t0))
	}
	put(t, s, alert("n1", "a2", t0)) // stored before: no new sequence number is listed
	first, last, err := s.AlertSeqRange(ctx)
	if err != nil || first <= 0 || last < first+4 {
		t.Fatalf("range: %d %d %v", first, last, err)
	}
	got, err := s.AlertsAfter(ctx, first, 3)
	if err != nil || len(got) != 3 || got[0].Alert.GetId() != "a1" || got[2].Alert.GetId() != "a3" || got[0].Seq <= first {
		t.Fatalf("AlertsAfter(first, 3) = %v, %v", got, err)
	}
	rest, err := s.AlertsAfter(ctx, got[2].Seq, 10)
	if err != nil || len(rest) != 1 || rest[0].Alert.GetId() != "a4" || rest[0].Seq != last {
		t.Fatalf("AlertsAfter the third = %v, %v", rest, err)
	}
	if _, ok, err := s.SinkCursor(ctx, "webhook"); ok || err != nil {
		t.Fatalf("cursor of a new sink: %v %v", ok, err)
	}
	for _, seq := range []int64{3, 7} {
		if err := s.PutSinkCursor(ctx, "webhook", seq); err != nil {
			t.Fatal(err)
		}
	}
	if seq, ok, err := s.SinkCursor(ctx, "webhook"); seq != 7 || !ok || err != nil {
		t.Fatalf("cursor = %d %v %v, want 7", seq, ok, err)
	}
}

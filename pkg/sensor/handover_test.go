package sensor

import (
	"testing"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// TestHandoverKeep feeds the hand-over records as a restart gives them:
// the previous programs' records all count; of this agent's own, before
// the release, only its enforcement ones, and an action both generations
// took on one task is kept once, whichever ring is read first.
func TestHandoverKeep(t *testing.T) {
	rec := func(ns uint64, tid uint32, flags Flags) []byte {
		return record(t, &bpfobj.RecordEventHeader{TimeNs: ns, CgroupId: 7, Type: uint32(TypeExec), Flags: uint32(flags), Pid: tid, Tgid: tid})
	}
	h := newHandover(1)
	steps := []struct {
		name string
		raw  []byte
		own  bool
		want bool
	}{
		{"a kill while no agent read", rec(1_000, 10, FlagKilled), false, true},
		{"a trace the previous programs wrote", rec(2_000, 11, 0), false, true},
		{"the same trace by this agent's programs", rec(2_100, 11, 0), true, false},
		{"a kill by both generations, own first", rec(5_000_000, 12, FlagKilled), true, true},
		{"its twin from the previous ring", rec(5_000_300, 12, FlagKilled), false, false},
		{"a kill only the previous programs made", rec(6_000_000, 13, FlagKilled), false, true},
		{"this agent's uncompiled trace of it", rec(6_000_100, 13, 0), true, false},
		{"a kill of the same thread 20 ms later", rec(25_000_000, 12, FlagKilled), false, true},
		{"a kill only this agent made", rec(30_000_000, 14, FlagKilled), true, true},
		{"a denial is not a kill's twin", rec(30_000_100, 14, FlagDenied), false, true},
	}
	for _, s := range steps {
		if got := h.keep(s.raw, s.own); got != s.want {
			t.Errorf("%s: kept %v, want %v", s.name, got, s.want)
		}
	}
	if got := h.duplicates.Load(); got != 3 {
		t.Errorf("%d duplicates counted, want 3", got)
	}

	h.released()
	if !h.keep(rec(uint64(h.end.Load())+1, 15, 0), true) {
		t.Error("an own trace after the release was dropped")
	}
	h.drained()
	if !h.keep(rec(40_000_000, 12, FlagKilled), true) || !h.keep(rec(40_000_000, 12, FlagKilled), false) {
		t.Error("records were matched after the hand-over ended")
	}
}

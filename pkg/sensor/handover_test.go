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
	recOf := func(typ Type, ns uint64, tid uint32, flags Flags) []byte {
		return record(t, &bpfobj.RecordEventHeader{TimeNs: ns, CgroupId: 7, Type: uint32(typ), Flags: uint32(flags), Pid: tid, Tgid: tid})
	}
	rec := func(ns uint64, tid uint32, flags Flags) []byte { return recOf(TypeExec, ns, tid, flags) }
	h := newHandover(1)
	steps := []struct {
		name string
		raw  []byte
		ring class // the ring it is read from; a generation not compiled for a container writes to the other
		own  bool
		want bool
	}{
		{"a kill while no agent read", rec(1_000, 10, FlagKilled), classJudged, false, true},
		{"a trace the previous programs wrote", rec(2_000, 11, 0), classJudged, false, true},
		{"the same trace by this agent's programs", rec(2_100, 11, 0), classOther, true, false},
		{"a kill by both generations, own first", rec(5_000_000, 12, FlagKilled), classJudged, true, true},
		{"its twin from the previous ring", rec(5_000_300, 12, FlagKilled), classJudged, false, false},
		{"a kill only the previous programs made", rec(6_000_000, 13, FlagKilled), classJudged, false, true},
		{"this agent's uncompiled trace of it", rec(6_000_100, 13, 0), classOther, true, false},
		{"a kill of the same thread 20 ms later", rec(25_000_000, 12, FlagKilled), classJudged, false, true},
		{"a kill only this agent made", rec(30_000_000, 14, FlagKilled), classJudged, true, true},
		{"a denial is not a kill's twin", rec(30_000_100, 14, FlagDenied), classJudged, false, true},
		// The sys_exit family is not pinned: only this agent traces opens.
		{"an open this agent's programs traced", recOf(TypeOpen, 31_000_000, 17, 0), classJudged, true, true},
		{"a connect this agent's programs traced", recOf(TypeConnect, 31_000_100, 17, 0), classOther, true, true},
	}
	for _, s := range steps {
		if got := h.keep(s.raw, s.ring, s.own); got != s.want {
			t.Errorf("%s: kept %v, want %v", s.name, got, s.want)
		}
	}
	if got := h.duplicates.Load(); got != 3 {
		t.Errorf("%d duplicates counted, want 3", got)
	}

	h.released()
	end := uint64(h.end.Load())
	if !h.keep(rec(end-1, 16, FlagKilled), classJudged, false) {
		t.Error("a kill drained from the previous ring after the release was dropped")
	}
	h.drained()
	// Each of this agent's readers may lag behind the previous ring's, and
	// one of them behind the other.
	if !h.keep(rec(end+1, 15, 0), classOther, true) {
		t.Error("an own trace after the release was dropped")
	}
	if h.keep(rec(end-2, 16, 0), classJudged, true) {
		t.Error("an own trace from before the release, read after the previous ring ended and the other own ring passed the release, was kept")
	}
	if h.keep(rec(end-3, 16, FlagKilled), classJudged, true) {
		t.Error("the twin of a drained kill, read late from this agent's judged ring, was kept")
	}
	if h.done.Load() {
		t.Fatal("the hand-over ended before this agent's judged ring was read past the release")
	}
	h.pass(classJudged) // its reader, flushed at the release, found the ring empty
	if !h.keep(rec(end+2, 12, FlagKilled), classJudged, true) || !h.keep(rec(end+2, 12, FlagKilled), classJudged, false) {
		t.Error("records were matched after the hand-over ended")
	}
}

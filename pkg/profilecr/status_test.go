package profilecr

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

func TestStatusOf(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st := &State{
		Latest: &vigilv1.Profile{ImageDigest: digest, Image: "nginx:1.27", Version: 4, Mode: vigilv1.ProfileMode_PROFILE_MODE_LEARN,
			Author: "node:a", NotReady: []string{"learned from 1 container(s) (ready from 2: a restart or a replica)"}},
		Learning: profile.Learning{Started: at, LastNewEntry: at.Add(time.Minute), Observations: 9,
			Containers: profile.IDSet{IDs: []string{"c1"}}, Nodes: profile.IDSet{IDs: []string{"a"}},
			Incomplete: []profile.IncompleteReason{{Reason: "ring buffer lost", Count: 3}}},
	}
	s := StatusOf(Status{}, st, &Sync{Generation: 2, OK: true, Reason: ReasonApplied, Message: "applied as version 4 (learn)"})
	if s.ObservedGeneration != 2 || s.Version != 4 || s.Mode != "learn" || s.Ready || s.Author != "node:a" || s.Image != "nginx:1.27" {
		t.Fatalf("status %+v", s)
	}
	if e := s.Evidence; e.Containers != 1 || e.Nodes != 1 || e.Observations != 9 || !e.LearningSince.Time.Equal(at) ||
		len(e.Incomplete) != 1 || e.Incomplete[0] != "ring buffer lost (3)" {
		t.Errorf("evidence %+v", e)
	}
	ready := meta.FindStatusCondition(s.Conditions, CondReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, "version 4 is not ready to enforce: learned from 1 container") {
		t.Errorf("ready condition %+v", ready)
	}
	synced := meta.FindStatusCondition(s.Conditions, CondSynced)
	if synced == nil || synced.Status != metav1.ConditionTrue || synced.ObservedGeneration != 2 {
		t.Errorf("synced condition %+v", synced)
	}
	// Without a new sync the Synced condition and observedGeneration
	// stay; the condition's transition time holds while its status does.
	synced.LastTransitionTime = metav1.NewTime(at)
	st.Latest.NotReady = nil
	next := StatusOf(s, st, nil)
	if next.ObservedGeneration != 2 || !next.Ready {
		t.Errorf("next %+v", next)
	}
	if c := meta.FindStatusCondition(next.Conditions, CondSynced); c == nil || !c.LastTransitionTime.Time.Equal(at) {
		t.Errorf("synced condition after a status refresh %+v", c)
	}
	if c := meta.FindStatusCondition(next.Conditions, CondReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("ready condition once ready %+v", c)
	}
	refused := StatusOf(next, st, &Sync{Generation: 3, Reason: ReasonRefused, Message: "no"})
	if c := meta.FindStatusCondition(refused.Conditions, CondSynced); c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonRefused || refused.ObservedGeneration != 3 {
		t.Errorf("refused %+v", refused)
	}
	none := StatusOf(Status{}, nil, nil)
	if c := meta.FindStatusCondition(none.Conditions, CondReady); c == nil || c.Reason != "NoProfile" || none.Version != 0 {
		t.Errorf("no profile %+v", none)
	}
	// The status survives the trip through an object.
	u, err := refused.Unstructured()
	if err != nil {
		t.Fatal(err)
	}
	back := StatusFrom(map[string]any{"status": u})
	if back.Version != 4 || back.ObservedGeneration != 3 || len(back.Conditions) != 2 {
		t.Errorf("read back %+v", back)
	}
}

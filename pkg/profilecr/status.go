package profilecr

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// Condition types.
const (
	// CondSynced is True when the spec of ObservedGeneration was applied
	// to the collector's store (or needed no change), False with the
	// collector's reason when it was refused.
	CondSynced = "Synced"
	// CondReady is True when the latest version's evidence makes it ready
	// to enforce (see profile.NotReady).
	CondReady = "Ready"
)

// Reasons of the Synced condition.
const (
	ReasonApplied          = "Applied"
	ReasonUnchanged        = "Unchanged"
	ReasonRefused          = "Refused"
	ReasonWaitingForDrafts = "WaitingForDrafts"
	ReasonMirrored         = "Mirrored"
	// ReasonNeedsPromote refuses a learn-mode spec over a profile the store
	// holds in monitor or enforce mode, written while the status did not
	// show that mode (so the admission policy did not ask for promote).
	ReasonNeedsPromote = "NeedsPromote"
)

// Status is an ImageProfile's status.
type Status struct {
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	Image              string `json:"image,omitempty"`
	Version            int64  `json:"version,omitempty"`
	Mode               string `json:"mode,omitempty"`
	// Author made the latest version: node:NAME (a learned merge),
	// consumer:NAME (vigilctl), kubernetes (this resource), inherit:REF.
	Author   string   `json:"author,omitempty"`
	Ready    bool     `json:"ready"`
	NotReady []string `json:"notReady,omitempty"`
	Evidence Evidence `json:"evidence,omitzero"`
	// Conditions: Synced and Ready.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Evidence summarises the learning run behind the latest version.
type Evidence struct {
	Containers     int          `json:"containers,omitempty"`
	ContainersMore bool         `json:"containersCapped,omitempty"`
	Nodes          int          `json:"nodes,omitempty"`
	Observations   int64        `json:"observations,omitempty"`
	LearningSince  *metav1.Time `json:"learningSince,omitempty"`
	LastNewEntry   *metav1.Time `json:"lastNewEntry,omitempty"`
	LastSeen       *metav1.Time `json:"lastSeen,omitempty"`
	Incomplete     []string     `json:"incomplete,omitempty"`
}

// Sync is the outcome of applying a spec, for the Synced condition.
type Sync struct {
	Generation int64
	Reason     string
	Message    string
	OK         bool
}

// StatusOf is the status of an object whose current status is old: the
// state of its profile (nil: none yet), and, when sync is not nil, the
// outcome of applying the spec of sync.Generation. Conditions keep their
// transition times while they hold.
func StatusOf(old Status, st *State, sync *Sync) Status {
	s := Status{ObservedGeneration: old.ObservedGeneration, Conditions: append([]metav1.Condition(nil), old.Conditions...)}
	if sync != nil {
		s.ObservedGeneration = sync.Generation
		c := metav1.Condition{Type: CondSynced, Status: metav1.ConditionTrue, Reason: sync.Reason, Message: sync.Message, ObservedGeneration: sync.Generation}
		if !sync.OK {
			c.Status = metav1.ConditionFalse
		}
		meta.SetStatusCondition(&s.Conditions, c)
	}
	if st == nil || st.Latest == nil {
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: CondReady, Status: metav1.ConditionFalse,
			Reason: "NoProfile", Message: "the collector has no profile of this image yet", ObservedGeneration: s.ObservedGeneration})
		return s
	}
	p := st.Latest
	s.Image, s.Version, s.Mode, s.Author = p.GetImage(), p.GetVersion(), modeName(p.GetMode()), p.GetAuthor()
	s.NotReady = p.GetNotReady()
	s.Ready = len(s.NotReady) == 0
	s.Evidence = evidenceOf(st.Learning)
	ready := metav1.Condition{Type: CondReady, Status: metav1.ConditionTrue, Reason: "EvidenceSuffices",
		Message: fmt.Sprintf("version %d is ready to enforce", p.GetVersion()), ObservedGeneration: s.ObservedGeneration}
	if !s.Ready {
		ready.Status, ready.Reason = metav1.ConditionFalse, "NotReady"
		ready.Message = fmt.Sprintf("version %d is not ready to enforce: %s", p.GetVersion(), strings.Join(s.NotReady, "; "))
	}
	meta.SetStatusCondition(&s.Conditions, ready)
	return s
}

func modeName(m vigilv1.ProfileMode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "PROFILE_MODE_"))
}

func evidenceOf(l profile.Learning) Evidence {
	e := Evidence{Containers: l.Containers.Len(), ContainersMore: l.Containers.Capped, Nodes: l.Nodes.Len(), Observations: int64(l.Observations)}
	if !l.Started.IsZero() {
		e.LearningSince = &metav1.Time{Time: l.Started.UTC()}
	}
	if !l.LastNewEntry.IsZero() {
		e.LastNewEntry = &metav1.Time{Time: l.LastNewEntry.UTC()}
	}
	if !l.LastSeen.IsZero() {
		e.LastSeen = &metav1.Time{Time: l.LastSeen.UTC()}
	}
	for _, r := range l.Incomplete {
		e.Incomplete = append(e.Incomplete, fmt.Sprintf("%s (%d)", r.Reason, r.Count))
	}
	return e
}

// StatusFrom reads an object's status (the zero Status when it has none or
// it does not decode: the collector rewrites it).
func StatusFrom(obj map[string]any) Status {
	var s Status
	raw, ok := obj["status"].(map[string]any)
	if !ok {
		return s
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &s); err != nil {
		return Status{}
	}
	return s
}

// Unstructured is s as an object's status field.
func (s Status) Unstructured() (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&s)
	if err != nil {
		return nil, fmt.Errorf("encode ImageProfile status: %w", err)
	}
	return m, nil
}

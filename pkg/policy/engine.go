package policy

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/draftstore"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// ProfileSource finds the profile in force for an image digest;
// *profiledir.Set (from a profiledir.Loader) and the collector's profiles are sources.
type ProfileSource interface {
	Get(digest string) (*profile.Profile, bool)
}

// Config sets up an Engine.
type Config struct {
	// Node names this node in learned evidence.
	Node string
	// Modes chooses each image's mode.
	Modes profile.ModePolicy
	// Profiles gives the profiles in force; nil means none.
	Profiles ProfileSource
	// Drafts persists drafts across restarts; nil keeps them in memory only.
	Drafts *draftstore.Store
	// Limits bound every draft.
	Limits profile.Limits
	// Inherit says whether a digest without a profile inherits the newest
	// promoted profile of its repository (needs a Profiles that is a
	// ProfileLister); empty is off.
	Inherit    profile.InheritPolicy
	Logger     *zap.Logger
	Registerer prometheus.Registerer
}

// Engine decides per event. Evaluate is called by one goroutine; the other
// methods may be called concurrently with it.
type Engine struct {
	cfg Config
	log *zap.Logger
	m   *metrics

	mu        sync.Mutex
	drafts    map[string]*draftState // by digest
	learning  map[string]bool        // digests whose last verdict was learn
	modes     map[modeKey]modeEntry
	inherited map[string]inheritedEntry // by digest
}

type draftState struct {
	draft *profile.Draft
	dirty bool
}

type modeKey struct{ digest, image, namespace string }

type modeEntry struct {
	profile  *profile.Profile
	decision profile.ModeDecision
}

// New returns an Engine with the drafts the store kept from a previous run.
func New(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := cfg.Modes.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, m: m, drafts: map[string]*draftState{},
		learning: map[string]bool{}, modes: map[modeKey]modeEntry{}, inherited: map[string]inheritedEntry{}}
	if cfg.Drafts != nil {
		drafts, err := cfg.Drafts.LoadAll()
		if err != nil {
			// LoadAll sets unreadable drafts aside and returns the rest.
			e.log.Warn("some learned drafts could not be loaded and were set aside", zap.Error(err))
		}
		for _, d := range drafts {
			e.drafts[d.Digest()] = &draftState{draft: d}
		}
		e.log.Info("learned drafts loaded", zap.Int("drafts", len(drafts)))
	}
	return e, nil
}

// Evaluate decides on one enriched event. It returns false for events no
// profile applies to: the host's, unattributed ones, those of containers
// whose image digest is unknown, and events that are not behaviour a
// profile describes (each counted).
func (e *Engine) Evaluate(rec *enrich.Record) (profile.Verdict, bool) {
	switch rec.Attribution.Kind {
	case containers.InContainer:
	case containers.Unattributed:
		e.m.skipped.WithLabelValues("unattributed").Inc()
		if rec.Attribution.MaybeKnownContainer() {
			e.MarkIncomplete("events from containers that could not be attributed", 1)
		}
		return profile.Verdict{}, false
	default:
		return profile.Verdict{}, false
	}
	c := rec.Attribution.Container
	if !rec.Process.Contained {
		// The runtime setting the container up, before it execs the
		// container's program: not the image's behaviour.
		e.m.skipped.WithLabelValues("container_runtime").Inc()
		return profile.Verdict{}, false
	}
	if !c.HasImageDigest() {
		e.m.skipped.WithLabelValues("unknown_digest").Inc()
		return profile.Verdict{}, false
	}
	o, why := observation(rec)
	if why != skipNone {
		e.m.skipped.WithLabelValues(string(why)).Inc()
		if why == skipTruncated {
			e.MarkIncompleteDigest(c.ImageDigest, "paths too long to learn", 1)
		}
		return profile.Verdict{}, false
	}
	o.ContainerID, o.Node = c.ID, e.cfg.Node

	v := e.Judge(c, o)
	if v.Mode == profile.ModeLearn {
		v.NewEntry = e.learn(c, o)
		return v, true
	}
	if p := v.Profile; p != nil && p.Metadata.InheritedFrom != "" {
		delta := &o
		if v.Allowed {
			delta = nil
		}
		e.learnDelta(c, p, delta)
	}
	e.m.verdicts.WithLabelValues(string(v.Mode), verdictLabel(v.Allowed)).Inc()
	return v, true
}

// Judge is the one decision on what a container may do: its image's mode
// and the profile in force, and whether that profile allows o. The monitor
// (Evaluate), the fanotify tier and the entrypoint check call it; the
// kernel's maps are compiled from the same mode and profile (enforce), and
// the cross-tier test holds every tier to it.
//
// While learning everything is allowed. In monitor and enforce modes o is
// checked against the profile; without one, nothing is allowed. An open
// whose access is not known (Access 0: the fanotify tier cannot tell read
// from write) is allowed when the profile lets the container read it or
// write it.
func (e *Engine) Judge(c *containers.Container, o profile.Observation) profile.Verdict {
	me := e.mode(c)
	v := profile.Verdict{Mode: me.decision.Mode, ModeReason: me.decision.Reason, Observation: o}
	if v.Mode == profile.ModeLearn {
		v.Allowed, v.Rule = true, "learning"
		return v
	}
	v.Profile = me.profile
	switch p := me.profile; {
	case p == nil:
		v.Rule = "no profile for image " + c.ImageDigest
	case o.Kind == profile.KindOpen && o.Access == 0:
		if v.Allowed, v.Rule = p.Allows(withAccess(o, profile.AccessRead)); !v.Allowed {
			v.Allowed, v.Rule = p.Allows(withAccess(o, profile.AccessWrite))
		}
	default:
		v.Allowed, v.Rule = p.Allows(o)
	}
	return v
}

func withAccess(o profile.Observation, a profile.Access) profile.Observation {
	o.Access = a
	return o
}

func verdictLabel(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "violation"
}

// Mode is the mode of a container's image and the profile in force for it.
func (e *Engine) Mode(c *containers.Container) (profile.ModeDecision, *profile.Profile) {
	me := e.mode(c)
	return me.decision, me.profile
}

// mode resolves a container's mode, cached until its profile changes.
func (e *Engine) mode(c *containers.Container) modeEntry {
	var p *profile.Profile
	if e.cfg.Profiles != nil {
		p, _ = e.cfg.Profiles.Get(c.ImageDigest)
		if p == nil {
			p = e.inherit(c)
		}
	}
	key := modeKey{c.ImageDigest, c.Image, c.PodNamespace}
	e.mu.Lock()
	defer e.mu.Unlock()
	if me, ok := e.modes[key]; ok && me.profile == p {
		return me
	}
	d := e.cfg.Modes.Resolve(profile.ModeQuery{Namespace: c.PodNamespace, Image: c.Image, Digest: c.ImageDigest, Profile: p})
	if p != nil && p.Metadata.InheritedFrom != "" {
		d.Reason += "; profile inherited from " + p.Metadata.InheritedFrom
	}
	if d.Mode != d.Requested {
		e.log.Warn("mode not honoured", zap.String("image", c.Image), zap.String("digest", c.ImageDigest), zap.String("reason", d.Reason))
	}
	me := modeEntry{profile: p, decision: d}
	e.modes[key] = me
	e.learning[c.ImageDigest] = d.Mode == profile.ModeLearn
	return me
}

// learn folds o into the draft of c's image.
func (e *Engine) learn(c *containers.Container, o profile.Observation) bool {
	ds, err := e.draftOf(c)
	if err != nil {
		return false
	}
	return e.observe(ds, o)
}

// draftOf returns the draft of c's image, made when there is none.
func (e *Engine) draftOf(c *containers.Container) (*draftState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ds := e.drafts[c.ImageDigest]
	if ds == nil {
		d, err := profile.NewDraft(c.Image, c.ImageDigest, e.cfg.Limits)
		if err != nil {
			e.m.skipped.WithLabelValues("bad_digest").Inc()
			return nil, err
		}
		ds = &draftState{draft: d}
		e.drafts[c.ImageDigest] = ds
		e.log.Info("learning a new image", zap.String("image", c.Image), zap.String("digest", c.ImageDigest))
	}
	return ds, nil
}

// observe folds o into a draft.
func (e *Engine) observe(ds *draftState, o profile.Observation) bool {
	added, err := ds.draft.Observe(o)
	if err != nil {
		e.m.skipped.WithLabelValues("malformed").Inc()
		e.log.Debug("observation not learned", zap.Error(err))
		return false
	}
	e.mu.Lock()
	ds.dirty = true
	e.mu.Unlock()
	e.m.learned.WithLabelValues(strconv.FormatBool(added)).Inc()
	return added
}

// MarkIncomplete records, in every draft being learned, that count events
// of the given kind were not seen (lost or unattributed), so the profile may
// lack what they would have added.
func (e *Engine) MarkIncomplete(reason string, count uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for digest, learning := range e.learning {
		if ds := e.drafts[digest]; learning && ds != nil {
			ds.draft.MarkIncomplete(reason, count)
			ds.dirty = true
		}
	}
}

// MarkIncompleteDigest is MarkIncomplete for the draft of one digest only,
// when the events missing are known to be its containers'.
func (e *Engine) MarkIncompleteDigest(digest, reason string, count uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ds := e.drafts[digest]; ds != nil && e.learning[digest] {
		ds.draft.MarkIncomplete(reason, count)
		ds.dirty = true
	}
}

// Profile returns the profile in force for an image digest.
func (e *Engine) Profile(digest string) (*profile.Profile, bool) {
	if e.cfg.Profiles == nil {
		return nil, false
	}
	return e.cfg.Profiles.Get(digest)
}

// Drafts returns every draft, learning or not.
func (e *Engine) Drafts() []*profile.Draft {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*profile.Draft, 0, len(e.drafts))
	for _, ds := range e.drafts {
		out = append(out, ds.draft)
	}
	return out
}

// Save persists the drafts that changed since the last Save.
func (e *Engine) Save() error {
	if e.cfg.Drafts == nil {
		return nil
	}
	e.mu.Lock()
	var dirty []*draftState
	for _, ds := range e.drafts {
		if ds.dirty {
			dirty = append(dirty, ds)
			ds.dirty = false
		}
	}
	e.mu.Unlock()
	var errs []error
	for _, ds := range dirty {
		if err := e.cfg.Drafts.Save(ds.draft); err != nil {
			e.mu.Lock()
			ds.dirty = true // tried again at the next save
			e.mu.Unlock()
			errs = append(errs, fmt.Errorf("save draft of %s: %w", ds.draft.Digest(), err))
		}
	}
	return errors.Join(errs...)
}

package policy

import (
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// ProfileLister is a ProfileSource that can list every profile it holds:
// what a new digest can inherit from.
type ProfileLister interface {
	Profiles() []*profile.Profile
	// Generation changes whenever what Profiles returns does.
	Generation() uint64
}

// inheritedEntry is what a digest inherited (nil: nothing) as of a
// generation of the profiles, kept so that events do not list profiles
// and the mode cache and the kernel's compiled maps see one profile, not
// a fresh copy per lookup.
type inheritedEntry struct {
	generation      uint64
	parent, profile *profile.Profile
}

// inherit returns the profile c's digest inherits under the configured
// policy: the newest promoted profile of another digest of c's repository,
// copied for c's digest in the mode the policy gives it; nil when there is
// none. Newest is the one whose learning saw its image last.
func (e *Engine) inherit(c *containers.Container) *profile.Profile {
	lister, ok := e.cfg.Profiles.(ProfileLister)
	if !ok || e.cfg.Inherit == "" || e.cfg.Inherit == profile.InheritOff || c.Image == "" {
		return nil
	}
	gen := lister.Generation()
	e.mu.Lock()
	defer e.mu.Unlock()
	prev, known := e.inherited[c.ImageDigest]
	if known && prev.generation == gen {
		return prev.profile
	}
	repo := profile.Repository(c.Image)
	var parent *profile.Profile
	for _, p := range lister.Profiles() {
		if p.Metadata.Digest == c.ImageDigest || e.cfg.Inherit.Mode(p.Metadata.Mode) == "" ||
			profile.Repository(p.Metadata.Image) != repo || !newer(p, parent) {
			continue
		}
		parent = p
	}
	switch {
	case parent == nil:
		e.inherited[c.ImageDigest] = inheritedEntry{generation: gen}
		return nil
	case known && prev.parent == parent:
		prev.generation = gen
		e.inherited[c.ImageDigest] = prev
		return prev.profile
	}
	child, err := profile.Inherit(parent, c.Image, c.ImageDigest, e.cfg.Inherit.Mode(parent.Metadata.Mode))
	if err != nil {
		e.log.Error("inherit a profile", zap.String("digest", c.ImageDigest), zap.Error(err))
		return nil
	}
	e.inherited[c.ImageDigest] = inheritedEntry{generation: gen, parent: parent, profile: child}
	e.m.inherited.Inc()
	e.log.Info("profile inherited", zap.String("image", c.Image), zap.String("digest", c.ImageDigest),
		zap.String("from", child.Metadata.InheritedFrom), zap.String("mode", string(child.Metadata.Mode)))
	return child
}

func newer(p, than *profile.Profile) bool {
	if than == nil {
		return true
	}
	a, b := p.Metadata.Learning.LastSeen, than.Metadata.Learning.LastSeen
	if !a.Equal(b) {
		return a.After(b)
	}
	return p.Metadata.Digest > than.Metadata.Digest
}

// learnDelta folds what a container running on an inherited profile did
// beyond it into its digest's draft: the delta a reviewer promotes or
// refuses. The draft exists from the first verdict, so a digest that does
// nothing new still reports that it inherited.
func (e *Engine) learnDelta(c *containers.Container, p *profile.Profile, o *profile.Observation) {
	ds, err := e.draftOf(c)
	if err != nil {
		return
	}
	if ds.draft.LearnsDeltaOf(p.Metadata.InheritedFrom) {
		e.mu.Lock()
		ds.dirty = true
		e.mu.Unlock()
	}
	if o != nil {
		e.observe(ds, *o)
	}
}

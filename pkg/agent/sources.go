package agent

import (
	"context"
	"maps"
	"slices"
	"sync"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/policy"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/profiledir"
	"github.com/vigil-dev/vigil/pkg/ship"
)

// profileSources looks a digest up in each source in turn: the profiles
// directory (explicit node configuration) before the collector.
type profileSources []policy.ProfileSource

func (ps profileSources) Get(digest string) (*profile.Profile, bool) {
	for _, s := range ps {
		if p, ok := s.Get(digest); ok {
			return p, true
		}
	}
	return nil, false
}

// Profiles lists every source's profiles; a digest in two sources is the
// first's, as in Get.
func (ps profileSources) Profiles() []*profile.Profile {
	seen := map[string]bool{}
	var out []*profile.Profile
	for _, s := range ps {
		l, ok := s.(policy.ProfileLister)
		if !ok {
			continue
		}
		for _, p := range l.Profiles() {
			if !seen[p.Metadata.Digest] {
				seen[p.Metadata.Digest] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// Generation sums the sources' generations: each only grows, so the sum
// changes whenever one does.
func (ps profileSources) Generation() uint64 {
	var g uint64
	for _, s := range ps {
		if l, ok := s.(policy.ProfileLister); ok {
			g += l.Generation()
		}
	}
	return g
}

// loaderSource reads the directory loader's current set on every lookup,
// so a reload is seen at once.
type loaderSource struct{ l *profiledir.Loader }

func (s loaderSource) Get(digest string) (*profile.Profile, bool) { return s.l.Profiles().Get(digest) }

func (s loaderSource) Profiles() []*profile.Profile { return s.l.Profiles().All() }

func (s loaderSource) Generation() uint64 { return s.l.Profiles().Generation() }

// remoteProfiles holds the profiles the collector pushes.
type remoteProfiles struct {
	log *zap.Logger

	mu         sync.RWMutex
	byDigest   map[string]*profile.Profile
	generation uint64 // bumped by every profile applied
	snapshot   bool   // the collector's first full snapshot arrived
}

// synced reports whether the collector's profiles have all arrived once.
func (r *remoteProfiles) synced() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.snapshot
}

func newRemoteProfiles(log *zap.Logger) *remoteProfiles {
	return &remoteProfiles{log: log, byDigest: map[string]*profile.Profile{}}
}

func (r *remoteProfiles) Get(digest string) (*profile.Profile, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.byDigest[digest]
	return p, ok
}

// Profiles lists the collector's profiles.
func (r *remoteProfiles) Profiles() []*profile.Profile {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Collect(maps.Values(r.byDigest))
}

// Generation changes with every profile applied.
func (r *remoteProfiles) Generation() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.generation
}

// follow applies the collector's profile stream until ctx ends.
func (r *remoteProfiles) follow(ctx context.Context, conn grpc.ClientConnInterface) {
	w := ship.ProfileWatch{Handle: r.apply, Logger: r.log}
	if err := w.Run(ctx, conn); err != nil {
		r.log.Error("collector profiles no longer followed", zap.Error(err))
	}
}

// apply takes one update. A document that does not decode is refused and
// the profile in force for that digest, if any, stays.
func (r *remoteProfiles) apply(u *vigilv1.ProfileUpdate) error {
	if u.GetSnapshotComplete() {
		r.mu.Lock()
		r.snapshot = true
		r.mu.Unlock()
	}
	pp := u.GetProfile()
	if pp == nil {
		return nil
	}
	p, err := profile.Decode("collector:"+pp.GetImageDigest(), pp.GetYaml())
	if err != nil {
		r.log.Error("profile from the collector rejected; the previous one stays in force",
			zap.String("digest", pp.GetImageDigest()), zap.Int64("version", pp.GetVersion()), zap.Error(err))
		return nil
	}
	r.mu.Lock()
	r.byDigest[p.Metadata.Digest] = p
	r.generation++
	r.mu.Unlock()
	r.log.Info("profile from the collector in force", zap.String("digest", p.Metadata.Digest),
		zap.Int64("version", p.Metadata.Version), zap.String("mode", string(p.Metadata.Mode)))
	return nil
}

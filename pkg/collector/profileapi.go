package collector

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/profilecr"
)

// This file is the profile API for controllers running inside the
// collector's process (pkg/profilesync): the consumer API's checks and audit
// trail, without a client certificate.

// ProfileStates returns the state of digest's profile (none when it has
// none), or of every profile when digest is empty.
func (c *Collector) ProfileStates(ctx context.Context, digest string) ([]profilecr.State, error) {
	ps := c.profiles
	var latest []*vigilv1.Profile
	if digest == "" {
		var err error
		if latest, err = c.opts.Store.LatestProfiles(ctx, true); err != nil {
			return nil, fmt.Errorf("list profiles: %w", err)
		}
	} else {
		p, err := ps.latest(ctx, digest)
		if err != nil {
			return nil, err
		}
		if p != nil {
			latest = append(latest, p)
		}
	}
	out := make([]profilecr.State, 0, len(latest))
	for _, p := range latest {
		l, why, err := ps.evidence(ctx, p, true)
		if err != nil {
			return nil, fmt.Errorf("judge %s version %d: %w", p.GetImageDigest(), p.GetVersion(), err)
		}
		p.NotReady = why
		out = append(out, profilecr.State{Latest: p, Learning: l})
	}
	return out, nil
}

// ChangeProfile applies ch through the consumer API's path: its checks,
// versioning and audit trail. It returns the latest version after the
// change and whether the change made none (what ch asks holds already,
// whatever ch.ExpectVersion says). Errors carry the consumer API's gRPC
// codes; a mode change of an image without a profile is ErrNoProfile.
func (c *Collector) ChangeProfile(ctx context.Context, ch profilecr.Change) (*vigilv1.Profile, bool, error) {
	pm, ok := protoModes[ch.Mode]
	if !ok {
		return nil, false, status.Errorf(codes.InvalidArgument, "mode %q: want learn, monitor or enforce", ch.Mode)
	}
	ps := c.profiles
	latest, err := ps.latest(ctx, ch.Digest)
	if err != nil {
		return nil, false, err
	}
	why := cause{author: ch.Actor, actor: ch.Actor, detail: ch.Detail}
	if ch.Document != nil {
		doc, err := profile.Decode("ImageProfile "+ch.Digest, ch.Document)
		if err != nil {
			return nil, false, status.Error(codes.InvalidArgument, err.Error())
		}
		if doc.Metadata.Digest != ch.Digest {
			return nil, false, status.Errorf(codes.InvalidArgument, "document is of %s, not %s", doc.Metadata.Digest, ch.Digest)
		}
		if latest != nil {
			if same, err := sameContent(latest, doc, ch.Mode); err != nil || same {
				return latest, same, err
			}
		}
		p, unchanged, err := ps.importDoc(ctx, why, &vigilv1.ImportProfileRequest{Yaml: ch.Document, Mode: pm, ExpectVersion: ch.ExpectVersion})
		return p, unchanged, err
	}
	if latest == nil {
		return nil, false, fmt.Errorf("%s: %w", ch.Digest, profilecr.ErrNoProfile)
	}
	if latest.GetMode() == pm {
		return latest, true, nil
	}
	if ch.Mode == profile.ModeEnforce && !ch.Force {
		why, err := ps.notReady(ctx, latest, true)
		if err != nil {
			return nil, false, err
		}
		if len(why) > 0 {
			return nil, false, status.Errorf(codes.FailedPrecondition, "%s version %d is not ready to enforce: %s", ch.Digest, latest.GetVersion(), strings.Join(why, "; "))
		}
	}
	p, err := ps.setMode(ctx, why, &vigilv1.SetProfileModeRequest{ImageDigest: ch.Digest, Mode: pm, ExpectVersion: ch.ExpectVersion})
	return p, false, err
}

// WatchProfiles calls f with the digest of every new version, made by this
// collector or (on a shared store) another, until ctx ends; with "" when
// changes may have been missed.
func (c *Collector) WatchProfiles(ctx context.Context, f func(digest string)) {
	w := c.profiles.watch(nil)
	defer func() { c.profiles.unwatch(w) }()
	for {
		select {
		case p := <-w.ch:
			f(p.GetImageDigest())
		case <-w.kick:
			f("")
			c.profiles.unwatch(w)
			w = c.profiles.watch(nil)
		case <-ctx.Done():
			return
		case <-c.stopping:
			return
		}
	}
}

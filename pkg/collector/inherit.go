package collector

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/store"
)

// inheritVersion makes the profile a new digest's agents inherited its
// version 1, from the first draft that says it learns that profile's delta:
// from then on every agent runs the digest on one stored version, which
// operators review (its delta: the drafts), promote or replace. The parent
// must be a promoted version of the same repository; a draft naming any
// other is learned as an ordinary draft (nil, nil). Callers hold ps.mu.
func (ps *profiles) inheritVersion(ctx context.Context, node string, draft *profile.Profile) (*vigilv1.Profile, error) {
	if ps.inherit == "" || ps.inherit == profile.InheritOff {
		return nil, nil
	}
	digest, version, err := profile.ParseRef(draft.Metadata.InheritedFrom)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	stored, err := ps.c.opts.Store.GetProfile(ctx, digest, version)
	if errors.Is(err, store.ErrNotFound) {
		ps.c.log.Warn("a draft names a parent profile that does not exist; learned as its own",
			zap.String(logKeyDigest, draft.Metadata.Digest), zap.String("inherited_from", draft.Metadata.InheritedFrom))
		return nil, nil
	}
	if err != nil {
		return nil, storeError("get profile", err)
	}
	parent, err := decodeStored(stored)
	if err != nil {
		return nil, err
	}
	mode := ps.inherit.Mode(parent.Metadata.Mode)
	if mode == "" || parent.Metadata.Digest == draft.Metadata.Digest ||
		profile.Repository(parent.Metadata.Image) != profile.Repository(draft.Metadata.Image) {
		ps.c.log.Warn("a draft names a parent profile it cannot inherit (not promoted, or another repository); learned as its own",
			zap.String(logKeyDigest, draft.Metadata.Digest), zap.String("image", draft.Metadata.Image),
			zap.String("inherited_from", draft.Metadata.InheritedFrom))
		return nil, nil
	}
	child, err := profile.Inherit(parent, draft.Metadata.Image, draft.Metadata.Digest, mode)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "inherit: %v", err)
	}
	from := draft.Metadata.InheritedFrom
	return ps.newVersion(ctx, child, mode, stored.GetNodes(), cause{author: "inherit:" + from, actor: "node:" + node, action: actionInherit, detail: "inherited from " + from})
}

// delta is what the drafts of an inherited version's digest learned beyond
// it, when p is the latest version and inherited: the new image version's
// own behaviour, for review.
func (ps *profiles) delta(ctx context.Context, p *vigilv1.Profile, doc *profile.Profile) ([]string, error) {
	if doc.Metadata.InheritedFrom == "" {
		return nil, nil
	}
	latest, err := ps.latest(ctx, p.GetImageDigest())
	if err != nil || latest.GetVersion() != p.GetVersion() {
		return nil, err
	}
	merged, _, held, err := ps.merge(ctx, p.GetImageDigest())
	if err != nil || merged == nil {
		return nil, err
	}
	d, err := profile.Compare("inherited", doc, "drafts", merged)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "compare drafts: %v", err)
	}
	support := supportOf(merged)
	var out []string
	for _, l := range d.Lists {
		for _, e := range l.Added {
			out = append(out, fmt.Sprintf("%s: %s (delta: %s)", l.List, e, support[l.List+": "+e]))
		}
	}
	for _, h := range held {
		out = append(out, fmt.Sprintf("%s: %s (delta: %s)", h.list, h.entry, nodeCount(h.nodes, false)))
	}
	return out, nil
}

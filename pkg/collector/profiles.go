package collector

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/store"
)

// profiles makes profile versions: merged drafts while an image learns,
// mode changes and imports after. A version is immutable; every change is a
// new version, pushed to the agents watching.
type profiles struct {
	c      *Collector
	limits profile.Limits
	// minNodes is how many nodes' drafts must support an entry (see
	// support.go).
	minNodes int
	// inherit: see Options.Inherit.
	inherit profile.InheritPolicy
	// readiness: see Options.Readiness.
	readiness profile.ReadinessPolicy
	// mu serialises version making in this collector, a store's
	// ProfileLocker across the collectors sharing it (see lock).
	mu      sync.Mutex
	watchMu sync.Mutex
	watches map[*profileWatch]struct{}
}

var protoModes = map[profile.Mode]vigilv1.ProfileMode{
	profile.ModeLearn:   vigilv1.ProfileMode_PROFILE_MODE_LEARN,
	profile.ModeMonitor: vigilv1.ProfileMode_PROFILE_MODE_MONITOR,
	profile.ModeEnforce: vigilv1.ProfileMode_PROFILE_MODE_ENFORCE,
}

func modeFromProto(m vigilv1.ProfileMode) (profile.Mode, bool) {
	for mode, pm := range protoModes {
		if pm == m {
			return mode, true
		}
	}
	return "", false
}

// storeError maps store errors onto gRPC statuses.
func storeError(what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "%s: %v", what, err)
}

func decodeStored(p *vigilv1.Profile) (*profile.Profile, error) {
	doc, err := profile.Decode(fmt.Sprintf("%s@%d", p.GetImageDigest(), p.GetVersion()), p.GetYaml())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "stored profile does not decode: %v", err)
	}
	return doc, nil
}

// lock makes this caller the only one making versions of digest: in this
// collector, and in every collector sharing its store. Without the store's
// lock, a merge on one replica could read the drafts and latest version
// before another replica stored its own merge, and store a version that
// misses that replica's node; PutProfile's ErrConflict alone only makes it
// build the stale merge on the newer version.
func (ps *profiles) lock(ctx context.Context, digest string) (unlock func(), err error) {
	ps.mu.Lock()
	l, shared := ps.c.opts.Store.(store.ProfileLocker)
	if !shared {
		return ps.mu.Unlock, nil
	}
	release, err := l.LockProfile(ctx, digest)
	if err != nil {
		ps.mu.Unlock()
		return nil, storeError("lock profile", err)
	}
	return func() {
		release()
		ps.mu.Unlock()
	}, nil
}

// latest returns the latest version of digest, nil when there is none.
func (ps *profiles) latest(ctx context.Context, digest string) (*vigilv1.Profile, error) {
	p, err := ps.c.opts.Store.GetProfile(ctx, digest, 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeError("get profile", err)
	}
	return p, nil
}

// submitDraft stores a node's draft of an image the node reported running
// and, while the digest learns, merges the drafts of every node into a new
// version when what they allow, or which nodes support it, changed.
func (ps *profiles) submitDraft(ctx context.Context, node string, req *vigilv1.SubmitDraftRequest) (*vigilv1.Profile, error) {
	draft, err := profile.Decode("draft from "+node, req.GetYaml())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	digest := draft.Metadata.Digest
	if req.GetImageDigest() != "" && req.GetImageDigest() != digest {
		return nil, status.Errorf(codes.InvalidArgument, "draft is for %s, request names %s", digest, req.GetImageDigest())
	}
	if err := ps.checkRuns(ctx, node, digest); err != nil {
		return nil, err
	}
	canonical, err := profile.Encode(draft)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "encode draft: %v", err)
	}
	unlock, err := ps.lock(ctx, digest)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st := ps.c.opts.Store
	d := store.Draft{Digest: digest, Node: node, Image: draft.Metadata.Image, YAML: canonical, Updated: time.Now()}
	if err := st.PutDraft(ctx, d); err != nil {
		return nil, storeError("store draft", err)
	}
	ps.c.m.drafts.Inc()
	latest, err := ps.latest(ctx, digest)
	if err != nil {
		return nil, err
	}
	if latest != nil && latest.GetMode() != vigilv1.ProfileMode_PROFILE_MODE_LEARN {
		return latest, nil // promoted: drafts no longer change it
	}
	if latest == nil && draft.Metadata.InheritedFrom != "" {
		if p, err := ps.inheritVersion(ctx, node, draft); p != nil || err != nil {
			return p, err
		}
	}
	merged, nodes, _, err := ps.merge(ctx, digest)
	if err != nil {
		return nil, err
	}
	if latest != nil {
		prev, err := decodeStored(latest)
		if err != nil {
			return nil, err
		}
		merged.Metadata.Mode = profile.ModeLearn
		diff, err := profile.Compare("previous", prev, "merged", merged)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "compare drafts: %v", err)
		}
		if diff.Empty() && slices.Equal(prev.Metadata.Learning.Incomplete, merged.Metadata.Learning.Incomplete) &&
			maps.Equal(supportOf(prev), supportOf(merged)) {
			return latest, nil // only evidence changed: kept in the drafts
		}
	}
	return ps.newVersion(ctx, merged, profile.ModeLearn, nodes, cause{author: "node:" + node, actor: "node:" + node, action: actionMerge})
}

// checkRuns refuses a draft of an image the node's last status report did
// not list.
func (ps *profiles) checkRuns(ctx context.Context, node, digest string) error {
	st, err := ps.c.opts.Store.GetNodeStatus(ctx, node)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError("get node status", err)
	}
	if !slices.Contains(st.GetImages(), digest) {
		ps.c.m.draftsRefused.Inc()
		return status.Errorf(codes.PermissionDenied, "node %s has not reported running %s", node, digest)
	}
	return nil
}

// merge merges the drafts of a digest from every node, each stamped with
// its node, keeping the entries enough nodes support (see support.go). It
// returns the merged profile, the nodes whose drafts it holds, and what it
// held back; a nil profile when no node has sent a draft yet (a profile
// imported before its image ran).
func (ps *profiles) merge(ctx context.Context, digest string) (*profile.Profile, []string, []heldEntry, error) {
	stored, err := ps.c.opts.Store.Drafts(ctx, digest)
	if err != nil {
		return nil, nil, nil, storeError("read drafts", err)
	}
	if len(stored) == 0 {
		return nil, nil, nil, nil
	}
	drafts, nodes := make([]nodeDraft, 0, len(stored)), make([]string, 0, len(stored))
	for _, d := range stored {
		p, err := profile.Decode("draft from "+d.Node, d.YAML)
		if err != nil {
			return nil, nil, nil, status.Errorf(codes.Internal, "stored draft does not decode: %v", err)
		}
		stamp(p, d.Node)
		drafts, nodes = append(drafts, nodeDraft{node: d.Node, doc: p}), append(nodes, d.Node)
	}
	parts, held := supported(drafts, ps.minNodes)
	merged, err := profile.Merge(ps.limits, parts...)
	if err != nil {
		return nil, nil, nil, status.Errorf(codes.InvalidArgument, "merge drafts: %v", err)
	}
	markSupport(merged, drafts, cmp.Or(ps.limits.MaxEvidenceIDs, profile.DefaultLimits().MaxEvidenceIDs))
	return merged, nodes, held, nil
}

// cause says who made a version and why: the version's author, and the
// actor and action of its audit record.
type cause struct {
	author, actor, action, detail string
}

// newVersion stores doc as the digest's next version and records it in the
// audit trail. Callers hold the digest's lock (lock).
func (ps *profiles) newVersion(ctx context.Context, doc *profile.Profile, mode profile.Mode, nodes []string, why cause) (*vigilv1.Profile, error) {
	st := ps.c.opts.Store
	for range 5 {
		latest, err := ps.latest(ctx, doc.Metadata.Digest)
		if err != nil {
			return nil, err
		}
		doc.Metadata.Version, doc.Metadata.Mode = latest.GetVersion()+1, mode
		yamlDoc, err := profile.Encode(doc)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "encode profile: %v", err)
		}
		sum := sha256.Sum256(yamlDoc)
		p := &vigilv1.Profile{
			ImageDigest: doc.Metadata.Digest, Image: doc.Metadata.Image, Version: doc.Metadata.Version,
			Mode: protoModes[mode], Yaml: yamlDoc, Sha256: hex.EncodeToString(sum[:]),
			Created: timestamppb.Now(), Nodes: nodes, Author: why.author,
		}
		err = st.PutProfile(ctx, p)
		if errors.Is(err, store.ErrConflict) {
			continue // another collector made this version: build on it
		}
		if err != nil {
			return nil, storeError("store profile", err)
		}
		ps.c.m.profileVersions.Inc()
		ps.c.log.Info("profile version", zap.String(logKeyDigest, p.GetImageDigest()), zap.Int64(logKeyVersion, p.GetVersion()),
			zap.String("mode", string(mode)), zap.String("author", why.author))
		ps.c.audit(ctx, why.actor, why.action, "profile:"+p.GetImageDigest(), profileVersion(latest), profileVersion(p), why.detail)
		ps.publish(p)
		return p, nil
	}
	return nil, status.Error(codes.Aborted, "profile changed concurrently five times; try again")
}

// setMode makes a new version with the latest version's allowlists in mode,
// by the author and actor of why.
func (ps *profiles) setMode(ctx context.Context, why cause, req *vigilv1.SetProfileModeRequest) (*vigilv1.Profile, error) {
	mode, ok := modeFromProto(req.GetMode())
	if !ok {
		return nil, status.Error(codes.InvalidArgument, "mode must be learn, monitor or enforce")
	}
	unlock, err := ps.lock(ctx, req.GetImageDigest())
	if err != nil {
		return nil, err
	}
	defer unlock()
	latest, err := ps.latest(ctx, req.GetImageDigest())
	if err != nil {
		return nil, err
	}
	if latest == nil {
		return nil, status.Errorf(codes.NotFound, "no profile for %s", req.GetImageDigest())
	}
	if err := expectLatest(latest, req.GetImageDigest(), req.GetExpectVersion()); err != nil {
		return nil, err
	}
	if latest.GetMode() == req.GetMode() {
		return latest, nil
	}
	doc, err := decodeStored(latest)
	if err != nil {
		return nil, err
	}
	why.action = actionMode
	return ps.newVersion(ctx, doc, mode, latest.GetNodes(), why)
}

// importDoc stores an operator's document as the next version, by the
// author and actor of why, unless it changes nothing (then it returns the
// latest version and true).
func (ps *profiles) importDoc(ctx context.Context, why cause, req *vigilv1.ImportProfileRequest) (*vigilv1.Profile, bool, error) {
	doc, err := profile.Decode("imported profile", req.GetYaml())
	if err != nil {
		return nil, false, status.Error(codes.InvalidArgument, err.Error())
	}
	mode := doc.Metadata.Mode
	if req.GetMode() != vigilv1.ProfileMode_PROFILE_MODE_UNSPECIFIED {
		if mode, _ = modeFromProto(req.GetMode()); mode == "" {
			return nil, false, status.Error(codes.InvalidArgument, "mode must be learn, monitor or enforce")
		}
	}
	if mode == "" {
		mode = profile.ModeLearn
	}
	unlock, err := ps.lock(ctx, doc.Metadata.Digest)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	latest, err := ps.latest(ctx, doc.Metadata.Digest)
	if err != nil {
		return nil, false, err
	}
	if err := expectLatest(latest, doc.Metadata.Digest, req.GetExpectVersion()); err != nil {
		return nil, false, err
	}
	if latest != nil {
		same, err := sameContent(latest, doc, mode)
		if err != nil || same {
			return latest, same, err
		}
	}
	why.action = actionImport
	p, err := ps.newVersion(ctx, doc, mode, nil, why)
	return p, false, err
}

// expectLatest refuses a change made against a version that is no longer
// the latest (want 0: the caller did not say which it reviewed).
func expectLatest(latest *vigilv1.Profile, digest string, want int64) error {
	if want == 0 || want == latest.GetVersion() {
		return nil
	}
	if latest == nil {
		return status.Errorf(codes.FailedPrecondition, "%s has no profile yet, not version %d", digest, want)
	}
	return status.Errorf(codes.FailedPrecondition, "the latest version of %s is %d, not %d: review it first", digest, latest.GetVersion(), want)
}

// sameContent reports whether doc, set to mode, allows exactly what the
// stored version allows, in the same mode: a version is minted only when
// what is enforced changes, never for evidence or formatting alone.
func sameContent(stored *vigilv1.Profile, doc *profile.Profile, mode profile.Mode) (bool, error) {
	prev, err := decodeStored(stored)
	if err != nil {
		return false, err
	}
	doc.Metadata.Mode = mode
	d, err := profile.Compare("stored", prev, "imported", doc)
	if err != nil {
		return false, status.Errorf(codes.Internal, "compare profiles: %v", err)
	}
	return d.Empty(), nil
}

// diff compares two stored versions. Each entry added names the nodes that
// support it; when to is the latest version of a digest that learns, the
// entries its drafts hold back for want of support follow, marked "?"; when
// it is the latest and inherited, what its drafts learned beyond it (the
// delta), marked "?" too.
func (ps *profiles) diff(ctx context.Context, from, to *vigilv1.ProfileRef) (*vigilv1.DiffProfilesResponse, error) {
	var docs [2]*profile.Profile
	var names [2]string
	var toStored *vigilv1.Profile
	for i, ref := range []*vigilv1.ProfileRef{from, to} {
		p, err := ps.c.opts.Store.GetProfile(ctx, ref.GetImageDigest(), ref.GetVersion())
		if err != nil {
			return nil, storeError("get profile", err)
		}
		if docs[i], err = decodeStored(p); err != nil {
			return nil, err
		}
		names[i] = fmt.Sprintf("%s@%d", p.GetImageDigest(), p.GetVersion())
		toStored = p
	}
	held, err := ps.heldBack(ctx, toStored)
	if err != nil {
		return nil, err
	}
	delta, err := ps.delta(ctx, toStored, docs[1])
	if err != nil {
		return nil, err
	}
	d, err := profile.Compare(names[0], docs[0], names[1], docs[1])
	if err != nil {
		return nil, status.Errorf(codes.Internal, "compare profiles: %v", err)
	}
	var text strings.Builder
	if d.FromMode != d.ToMode {
		fmt.Fprintf(&text, "~ mode: %s -> %s\n", d.FromMode, d.ToMode)
	}
	support := supportOf(docs[1])
	for _, l := range d.Lists {
		for _, e := range l.Removed {
			fmt.Fprintf(&text, "- %s: %s\n", l.List, e)
		}
		for _, e := range l.Added {
			fmt.Fprintf(&text, "+ %s: %s (%s)\n", l.List, e, support[l.List+": "+e])
		}
	}
	for _, h := range held {
		fmt.Fprintf(&text, "? %s\n", h)
	}
	for _, line := range delta {
		fmt.Fprintf(&text, "? %s\n", line)
	}
	return &vigilv1.DiffProfilesResponse{Text: text.String(), Equal: d.Empty(), Unified: d.Text}, nil
}

// heldBack is what the drafts of p's digest hold back, when p is the latest
// version and learns (else nothing: the drafts no longer feed it).
func (ps *profiles) heldBack(ctx context.Context, p *vigilv1.Profile) ([]heldEntry, error) {
	if p.GetMode() != vigilv1.ProfileMode_PROFILE_MODE_LEARN {
		return nil, nil
	}
	latest, err := ps.latest(ctx, p.GetImageDigest())
	if err != nil || latest.GetVersion() != p.GetVersion() {
		return nil, err
	}
	_, _, held, err := ps.merge(ctx, p.GetImageDigest())
	return held, err
}

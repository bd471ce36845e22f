package collector

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// SubmitDraft merges the node's draft (see profiles.submitDraft).
func (s agentService) SubmitDraft(ctx context.Context, req *vigilv1.SubmitDraftRequest) (*vigilv1.SubmitDraftResponse, error) {
	p, err := s.c.profiles.submitDraft(ctx, identityFrom(ctx).Name, req)
	if err != nil {
		return nil, err
	}
	return &vigilv1.SubmitDraftResponse{Profile: p}, nil
}

// WatchProfiles sends the latest version of every wanted profile, a
// snapshot marker, then each new version.
func (s agentService) WatchProfiles(req *vigilv1.WatchProfilesRequest, stream vigilv1.AgentService_WatchProfilesServer) error {
	ps := s.c.profiles
	ctx := stream.Context()
	w := ps.watch(req.GetImageDigests())
	defer ps.unwatch(w)
	snapshot, err := s.c.opts.Store.LatestProfiles(ctx, true)
	if err != nil {
		return storeError("list profiles", err)
	}
	sent := map[string]int64{}
	for _, p := range snapshot {
		if !w.wants(p.GetImageDigest()) {
			continue
		}
		if err := stream.Send(&vigilv1.ProfileUpdate{Profile: p}); err != nil {
			return err
		}
		sent[p.GetImageDigest()] = p.GetVersion()
	}
	if err := stream.Send(&vigilv1.ProfileUpdate{SnapshotComplete: true}); err != nil {
		return err
	}
	for {
		select {
		case p := <-w.ch:
			if p.GetVersion() <= sent[p.GetImageDigest()] {
				continue // in the snapshot already
			}
			if err := stream.Send(&vigilv1.ProfileUpdate{Profile: p}); err != nil {
				return err
			}
			sent[p.GetImageDigest()] = p.GetVersion()
		case <-w.kick:
			return status.Error(codes.ResourceExhausted, "too many profile changes queued for this agent; reconnect for a fresh snapshot")
		case <-ctx.Done():
			return nil
		case <-s.c.stopping:
			return status.Error(codes.Unavailable, "collector is shutting down")
		}
	}
}

// ListProfiles returns the latest version of every profile, with its
// readiness, without YAML.
func (s consumerService) ListProfiles(ctx context.Context, _ *vigilv1.ListProfilesRequest) (*vigilv1.ListProfilesResponse, error) {
	list, err := s.c.opts.Store.LatestProfiles(ctx, true)
	if err != nil {
		return nil, storeError("list profiles", err)
	}
	for _, p := range list {
		if p.NotReady, err = s.c.profiles.notReady(ctx, p, true); err != nil {
			return nil, err
		}
		p.Yaml = nil
	}
	return &vigilv1.ListProfilesResponse{Profiles: list}, nil
}

// GetProfile returns one version and the list of versions.
func (s consumerService) GetProfile(ctx context.Context, req *vigilv1.GetProfileRequest) (*vigilv1.GetProfileResponse, error) {
	ref := req.GetRef()
	p, err := s.c.opts.Store.GetProfile(ctx, ref.GetImageDigest(), ref.GetVersion())
	if err != nil {
		return nil, storeError("get profile", err)
	}
	versions, err := s.c.opts.Store.ProfileVersions(ctx, ref.GetImageDigest())
	if err != nil {
		return nil, storeError("list versions", err)
	}
	if p.NotReady, err = s.c.profiles.notReady(ctx, p, p.GetVersion() == slices.Max(versions)); err != nil {
		return nil, err
	}
	return &vigilv1.GetProfileResponse{Profile: p, Versions: versions}, nil
}

// DiffProfiles compares two versions or two digests.
func (s consumerService) DiffProfiles(ctx context.Context, req *vigilv1.DiffProfilesRequest) (*vigilv1.DiffProfilesResponse, error) {
	return s.c.profiles.diff(ctx, req.GetFrom(), req.GetTo())
}

// SetProfileMode promotes (or demotes) a profile.
func (s consumerService) SetProfileMode(ctx context.Context, req *vigilv1.SetProfileModeRequest) (*vigilv1.SetProfileModeResponse, error) {
	p, err := s.c.profiles.setMode(ctx, consumerCause(ctx), req)
	if err != nil {
		return nil, err
	}
	return &vigilv1.SetProfileModeResponse{Profile: p}, nil
}

// ImportProfile stores a YAML document as the next version when it changes
// what the latest version allows or its mode.
func (s consumerService) ImportProfile(ctx context.Context, req *vigilv1.ImportProfileRequest) (*vigilv1.ImportProfileResponse, error) {
	p, unchanged, err := s.c.profiles.importDoc(ctx, consumerCause(ctx), req)
	if err != nil {
		return nil, err
	}
	return &vigilv1.ImportProfileResponse{Profile: p, Unchanged: unchanged}, nil
}

// ExportProfile returns a version's YAML.
func (s consumerService) ExportProfile(ctx context.Context, req *vigilv1.ExportProfileRequest) (*vigilv1.ExportProfileResponse, error) {
	p, err := s.c.opts.Store.GetProfile(ctx, req.GetRef().GetImageDigest(), req.GetRef().GetVersion())
	if err != nil {
		return nil, storeError("get profile", err)
	}
	return &vigilv1.ExportProfileResponse{Yaml: p.GetYaml()}, nil
}

// consumerCause names the consumer calling as a version's author and actor.
func consumerCause(ctx context.Context) cause {
	who := "consumer:" + identityFrom(ctx).Name
	return cause{author: who, actor: who}
}

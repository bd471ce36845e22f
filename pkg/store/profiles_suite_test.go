package store

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

func version(digest string, v int64, mode vigilv1.ProfileMode) *vigilv1.Profile {
	return &vigilv1.Profile{
		ImageDigest: digest, Image: "nginx:1.27", Version: v, Mode: mode,
		Yaml: []byte("kind: ImageProfile # v" + string(rune('0'+v)) + "\n"), Sha256: "abc",
		Created: timestamppb.New(t0.Add(time.Duration(v) * time.Minute)),
		Nodes:   []string{"n1", "n2"}, Author: "node:n1",
	}
}

func testProfileVersions(t *testing.T, s Store) {
	ctx := testCtx(t)
	learn, enforce := vigilv1.ProfileMode_PROFILE_MODE_LEARN, vigilv1.ProfileMode_PROFILE_MODE_ENFORCE
	if _, err := s.GetProfile(ctx, "sha256:a", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get from empty store: %v", err)
	}
	for _, p := range []*vigilv1.Profile{version("sha256:a", 1, learn), version("sha256:a", 2, enforce), version("sha256:b", 1, learn)} {
		if err := s.PutProfile(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutProfile(ctx, version("sha256:a", 2, learn)); !errors.Is(err, ErrConflict) {
		t.Fatalf("second version 2: %v, want ErrConflict", err)
	}
	if err := s.PutProfile(ctx, version("sha256:a", 3, vigilv1.ProfileMode_PROFILE_MODE_UNSPECIFIED)); err == nil {
		t.Fatal("profile without a mode stored")
	}
	latest, err := s.GetProfile(ctx, "sha256:a", 0)
	if err != nil || !proto.Equal(latest, version("sha256:a", 2, enforce)) {
		t.Fatalf("latest = %v, %v", latest, err)
	}
	first, err := s.GetProfile(ctx, "sha256:a", 1)
	if err != nil || first.GetMode() != learn {
		t.Fatalf("version 1 = %v, %v", first, err)
	}
	if _, err := s.GetProfile(ctx, "sha256:a", 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing version: %v", err)
	}
	versions, err := s.ProfileVersions(ctx, "sha256:a")
	if err != nil || len(versions) != 2 || versions[0] != 1 || versions[1] != 2 {
		t.Fatalf("versions = %v, %v", versions, err)
	}
	list, err := s.LatestProfiles(ctx, false)
	if err != nil || len(list) != 2 || list[0].GetVersion() != 2 || list[1].GetImageDigest() != "sha256:b" || list[0].GetYaml() != nil {
		t.Fatalf("latest without YAML = %v, %v", list, err)
	}
	list, err = s.LatestProfiles(ctx, true)
	if err != nil || !proto.Equal(list[0], version("sha256:a", 2, enforce)) {
		t.Fatalf("latest with YAML = %v, %v", list, err)
	}
}

func testDrafts(t *testing.T, s Store) {
	ctx := testCtx(t)
	for _, d := range []Draft{
		{Digest: "sha256:a", Node: "n2", Image: "x", YAML: []byte("old"), Updated: t0},
		{Digest: "sha256:a", Node: "n1", Image: "x", YAML: []byte("n1"), Updated: t0},
		{Digest: "sha256:a", Node: "n2", Image: "x", YAML: []byte("new"), Updated: t0.Add(time.Second)},
		{Digest: "sha256:b", Node: "n1", Image: "y", YAML: []byte("b"), Updated: t0},
	} {
		if err := s.PutDraft(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	drafts, err := s.Drafts(ctx, "sha256:a")
	if err != nil {
		t.Fatal(err)
	}
	if len(drafts) != 2 || drafts[0].Node != "n1" || string(drafts[1].YAML) != "new" || !drafts[1].Updated.Equal(t0.Add(time.Second)) {
		t.Fatalf("drafts = %+v", drafts)
	}
	if err := s.PutDraft(ctx, Draft{Digest: "sha256:a"}); err == nil {
		t.Fatal("draft without a node stored")
	}
}

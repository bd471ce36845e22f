package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/pkg/draftstore"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// TestDraftOfChangesNothing reads drafts as the demo does while the agent
// writes them: a save in flight (.tmp-*) and a draft that does not load
// stay as they are, and a drafts directory not made yet is not made.
func TestDraftOfChangesNothing(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, "drafts")
	store, err := draftstore.Open(dir, profile.Limits{}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	d, err := profile.NewDraft("vigil.demo/shop:1", digest, profile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Observe(profile.Observation{Kind: profile.KindExec, Path: "/bin/httpd", ContainerID: "c", Node: "n", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(d); err != nil {
		t.Fatal(err)
	}
	torn := "sha256_" + strings.Repeat("cd", 32) + ".draft.yaml"
	for _, name := range []string{".tmp-" + torn + "-1", torn} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("kind: [torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := names(t, dir)

	got, err := draftOf(state, digest)
	if err != nil || got == nil || got.Digest() != digest {
		t.Errorf("draftOf: %v, %v", got, err)
	}
	if _, err := draftOf(state, "sha256:"+strings.Repeat("cd", 32)); err == nil || !strings.Contains(err.Error(), torn) {
		t.Errorf("draftOf a draft that does not load: %v, want an error naming it", err)
	}
	if after := names(t, dir); !slices.Equal(after, before) {
		t.Errorf("draftOf changed the drafts directory: before %q, after %q", before, after)
	}

	fresh := filepath.Join(t.TempDir(), "agent")
	if _, err := draftOf(fresh, digest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("draftOf before the agent made its directory: %v, want not-exist", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("draftOf made %s: %v", fresh, err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

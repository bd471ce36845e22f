package policy

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// listedSource is a staticSource that can be listed, with a generation the
// test bumps when it changes the set.
type listedSource struct {
	staticSource
	gen uint64
}

func (s *listedSource) Profiles() []*profile.Profile {
	return slices.Collect(maps.Values(s.staticSource))
}
func (s *listedSource) Generation() uint64 { return s.gen }

const (
	digestV1 = "sha256:00000000000000000000000000000000000000000000000000000000000000a1"
	digestV2 = "sha256:00000000000000000000000000000000000000000000000000000000000000a2"
	digestV3 = "sha256:00000000000000000000000000000000000000000000000000000000000000a3"
)

func promoted(t *testing.T, image, digest string, mode profile.Mode, lastSeen time.Time, execs ...string) *profile.Profile {
	t.Helper()
	d, err := profile.NewDraft(image, digest, profile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range execs {
		if _, err := d.Observe(profile.Observation{Kind: profile.KindExec, Path: p, Time: lastSeen}); err != nil {
			t.Fatal(err)
		}
	}
	p := d.Profile()
	p.Metadata.Mode, p.Metadata.Version = mode, 4
	return p
}

func inContainer(c *containers.Container, rec *enrich.Record) *enrich.Record {
	rec.Attribution.Container = c
	return rec
}

func TestNewDigestInheritsNewestPromotedProfileOfItsRepository(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	src := &listedSource{staticSource: staticSource{
		digestV1: promoted(t, "registry.example:5000/shop/app:1.0", digestV1, profile.ModeEnforce, day, "/bin/old"),
		digestV2: promoted(t, "registry.example:5000/shop/app:1.1", digestV2, profile.ModeEnforce, day.AddDate(0, 0, 1), "/bin/app"),
		digest:   promoted(t, "registry.example:5000/shop/other:9", digest, profile.ModeEnforce, day.AddDate(0, 0, 2), "/bin/other"),
	}}
	v3 := &containers.Container{ID: "c3", Image: "registry.example:5000/shop/app:1.2", ImageDigest: digestV3, PodNamespace: "shop"}

	for _, tc := range []struct {
		policy profile.InheritPolicy
		mode   profile.Mode // "": no profile, the default mode applies
	}{
		{profile.InheritOff, ""},
		{profile.InheritMonitor, profile.ModeMonitor},
		{profile.InheritEnforce, profile.ModeEnforce},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			e, err := New(Config{Node: "n1", Modes: profile.ModePolicy{Default: profile.ModeLearn}, Profiles: src,
				Inherit: tc.policy, Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			d, p := e.Mode(v3)
			if tc.mode == "" {
				if p != nil || d.Mode != profile.ModeLearn {
					t.Fatalf("with inheritance off: mode %v, profile %v", d, p)
				}
				return
			}
			if p == nil || p.Metadata.InheritedFrom != profile.Ref(digestV2, 4) || p.Metadata.Digest != digestV3 || d.Mode != tc.mode {
				t.Fatalf("inherited %+v in %v, want %s@4 (the newest of the repository) in %s", p, d, digestV2, tc.mode)
			}
			if again, _ := e.Mode(v3); again.Mode != d.Mode {
				t.Fatal("mode changed between lookups")
			}
			if _, again := e.Mode(v3); again != p {
				t.Fatal("a second lookup made a second copy: the kernel maps would be compiled again")
			}

			if v, ok := e.Evaluate(inContainer(v3, execOf("/bin/app"))); !ok || !v.Allowed {
				t.Fatalf("what the parent allows: %+v", v)
			}
			for _, path := range []string{"/bin/old", "/bin/new-in-1.2", "/bin/new-in-1.2"} {
				if v, _ := e.Evaluate(inContainer(v3, execOf(path))); v.Allowed || v.Mode != tc.mode {
					t.Fatalf("%s, not in the parent: %+v", path, v)
				}
			}
			if v, _ := e.Evaluate(inContainer(v3, openOf("/etc/new.conf", unix.O_RDONLY, 3))); v.Allowed {
				t.Fatalf("an open the parent does not allow: %+v", v)
			}
			drafts := e.Drafts()
			if len(drafts) != 1 || drafts[0].Digest() != digestV3 {
				t.Fatalf("drafts: %v, want the delta of %s", drafts, digestV3)
			}
			delta := drafts[0].Profile()
			var execs []string
			for _, x := range delta.Spec.Executables {
				execs = append(execs, x.Path)
			}
			if !slices.Equal(execs, []string{"/bin/new-in-1.2", "/bin/old"}) || len(delta.Spec.Files) != 1 ||
				delta.Metadata.InheritedFrom != profile.Ref(digestV2, 4) {
				t.Fatalf("delta: executables %v, files %v, inherited from %q", execs, delta.Spec.Files, delta.Metadata.InheritedFrom)
			}
		})
	}

	t.Run("parent demoted", func(t *testing.T) {
		e, err := New(Config{Node: "n1", Modes: profile.ModePolicy{Default: profile.ModeLearn}, Profiles: src,
			Inherit: profile.InheritMonitor, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		if _, p := e.Mode(v3); p == nil || p.Metadata.InheritedFrom != profile.Ref(digestV2, 4) {
			t.Fatalf("inherited %v", p)
		}
		learning := promoted(t, "registry.example:5000/shop/app:1.1", digestV2, profile.ModeLearn, time.Time{}, "/bin/app")
		src.staticSource[digestV2], src.gen = learning, src.gen+1
		if _, p := e.Mode(v3); p == nil || p.Metadata.InheritedFrom != profile.Ref(digestV1, 4) {
			t.Fatalf("after 1.1 went back to learning: inherited %v, want 1.0's", p)
		}
		src.staticSource[digestV1], src.gen = learning, src.gen+1
		if d, p := e.Mode(v3); p != nil || d.Mode != profile.ModeLearn {
			t.Fatalf("with no promoted profile left: %v %v", d, p)
		}
	})
}

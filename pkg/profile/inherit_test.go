package profile

import (
	"strings"
	"testing"
)

func TestRepository(t *testing.T) {
	for image, want := range map[string]string{
		"nginx:1.27":                         "nginx",
		"docker.io/library/nginx:1.27":       "docker.io/library/nginx",
		"registry.example:5000/team/app":     "registry.example:5000/team/app",
		"registry.example:5000/team/app:1.2": "registry.example:5000/team/app",
		"app@sha256:0123":                    "app",
		"app:1.0@sha256:0123":                "app",
	} {
		if got := Repository(image); got != want {
			t.Errorf("Repository(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestInheritedProfileRoundTripsAndSharesNothing(t *testing.T) {
	parentDigest, childDigest := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	parent, err := Decode("parent", []byte("apiVersion: vigil.dev/v1\nkind: ImageProfile\nmetadata:\n  image: app:1\n  digest: "+
		parentDigest+"\n  version: 3\n  mode: enforce\nspec:\n  executables:\n    - path: /bin/app\n"))
	if err != nil {
		t.Fatal(err)
	}
	child, err := Inherit(parent, "app:2", childDigest, ModeMonitor)
	if err != nil {
		t.Fatal(err)
	}
	if child.Metadata.InheritedFrom != parentDigest+"@3" || child.Metadata.Mode != ModeMonitor || child.Metadata.Image != "app:2" {
		t.Fatalf("metadata %+v", child.Metadata)
	}
	child.Spec.Executables[0].Path = "/bin/changed"
	if parent.Spec.Executables[0].Path != "/bin/app" {
		t.Fatal("the inherited profile shares its entries with the parent")
	}
	doc, err := Encode(child)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode("child", doc)
	if err != nil || back.Metadata.InheritedFrom != child.Metadata.InheritedFrom {
		t.Fatalf("round trip: %v %+v\n%s", err, back.Metadata, doc)
	}
	bad := strings.Replace(string(doc), "@3", "@x", 1)
	if _, err := Decode("bad", []byte(bad)); err == nil || !strings.Contains(err.Error(), "metadata.inheritedFrom") {
		t.Fatalf("a malformed inheritedFrom: %v", err)
	}
}

func TestInheritPolicyModes(t *testing.T) {
	for _, tc := range []struct {
		policy       InheritPolicy
		parent, want Mode
	}{
		{InheritOff, ModeEnforce, ""},
		{InheritMonitor, ModeEnforce, ModeMonitor},
		{InheritMonitor, ModeLearn, ""},
		{InheritEnforce, ModeEnforce, ModeEnforce},
		{InheritEnforce, ModeMonitor, ModeMonitor},
	} {
		if got := tc.policy.Mode(tc.parent); got != tc.want {
			t.Errorf("%s from a %s parent: %q, want %q", tc.policy, tc.parent, got, tc.want)
		}
	}
	if _, err := ParseInheritPolicy("sometimes"); err == nil {
		t.Error("an unknown policy parses")
	}
}

package profile

import (
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	d := func(hex string) string { return "sha256:" + hex + strings.Repeat("0", 64-len(hex)) }
	known := []ImageRef{
		{"docker.io/library/nginx:1.27", d("ab12cd")},
		{"docker.io/library/nginx:1.28", d("ab34ef")},
		{"registry.local:5000/shop/cart:v2", d("cd56")},
		{"", d("ef78")},
		{"", d("ef7800ab")},
		{"docker.io/library/beef00:1", d("beef00")}, // its name is a prefix of its own digest
		{"docker.io/library/fed:1", d("ff")},
	}
	for _, c := range []struct{ name, want, err string }{
		{name: d("ab12cd"), want: d("ab12cd")},
		{name: "nginx@" + d("ab34ef"), want: d("ab34ef")},
		{name: "nginx:1.27", want: d("ab12cd")},
		{name: "library/nginx:1.28", want: d("ab34ef")},
		{name: "docker.io/library/nginx:1.27", want: d("ab12cd")},
		{name: "registry.local:5000/shop/cart", want: d("cd56")},
		{name: "registry.local:5000/shop/cart:v2", want: d("cd56")},
		{name: "ab34ef", want: d("ab34ef")},
		{name: "sha256:ef780000", want: d("ef78")},
		{name: "ef7800a", want: d("ef7800ab")},
		{name: "beef00", want: d("beef00")}, // both ways, one profile
		{name: "fed", want: d("ff")},        // an image name, not a digest prefix (too short)
		{name: "nginx", err: `"nginx" names 2 profiles; give a digest or a longer prefix of one:
  ` + d("ab12cd") + `  docker.io/library/nginx:1.27
  ` + d("ab34ef") + `  docker.io/library/nginx:1.28`},
		{name: "sha256:ab0", err: `no profile is named "sha256:ab0": a digest prefix needs at least 6 hex digits`},
		{name: "ab3", err: `no profile is named "ab3": a digest prefix needs at least 6 hex digits`},
		{name: "sha256:ab", err: "a digest prefix needs at least 6 hex digits"},
		{name: "ef7800", err: `"ef7800" names 2 profiles; give a digest or a longer prefix of one:`},
		{name: "nginx:1.29", err: `no profile is named "nginx:1.29"`},
		{name: "registry.local", err: "no profile is named"},
		{name: "cart:v2", err: "no profile is named"},
		{name: "", err: "no profile is named"},
		{name: d("ff01"), err: "no profile is named"},
		{name: "nginx@redis:7", err: "no profile is named"},
	} {
		got, err := Resolve(c.name, known)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Resolve(%q) = %q, %v; want an error with %q", c.name, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

// TestResolveNameAndPrefix names a profile by image while the name is also
// a digest prefix of another: refused, with both listed.
func TestResolveNameAndPrefix(t *testing.T) {
	byName := ImageRef{"docker.io/library/cafe12:1", "sha256:" + strings.Repeat("a", 64)}
	byPrefix := ImageRef{"docker.io/library/redis:7", "sha256:cafe12" + strings.Repeat("0", 58)}
	_, err := Resolve("cafe12", []ImageRef{byName, byPrefix})
	want := `"cafe12" is both an image name and a digest prefix; give the digest:
  ` + byName.Digest + `  docker.io/library/cafe12:1 (image name)
  ` + byPrefix.Digest + `  docker.io/library/redis:7 (digest prefix)`
	if err == nil || err.Error() != want {
		t.Errorf("Resolve(cafe12) error:\n%v\nwant\n%s", err, want)
	}
}

func TestIsFullDigest(t *testing.T) {
	for s, want := range map[string]bool{
		"sha256:" + strings.Repeat("a", 64): true, "sha512:" + strings.Repeat("0", 128): true,
		"sha256:" + strings.Repeat("a", 63): false, "sha256:" + strings.Repeat("g", 64): false, "redis:7": false, "nginx": false,
	} {
		if got := IsFullDigest(s); got != want {
			t.Errorf("IsFullDigest(%q) = %v", s, got)
		}
	}
}

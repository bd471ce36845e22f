package profile

import (
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	d := func(hex string) string { return "sha256:" + hex + strings.Repeat("0", 64-len(hex)) }
	known := []ImageRef{
		{"docker.io/library/nginx:1.27", d("ab12")},
		{"docker.io/library/nginx:1.28", d("ab34")},
		{"registry.local:5000/shop/cart:v2", d("cd56")},
		{"", d("ef78")},
	}
	for _, c := range []struct{ name, want, err string }{
		{name: d("ab12"), want: d("ab12")},
		{name: "nginx@" + d("ab34"), want: d("ab34")},
		{name: "nginx:1.27", want: d("ab12")},
		{name: "library/nginx:1.28", want: d("ab34")},
		{name: "docker.io/library/nginx:1.27", want: d("ab12")},
		{name: "registry.local:5000/shop/cart", want: d("cd56")},
		{name: "registry.local:5000/shop/cart:v2", want: d("cd56")},
		{name: "ab3", want: d("ab34")},
		{name: "sha256:ef", want: d("ef78")},
		{name: "nginx", err: `"nginx" names 2 profiles; give a digest or a longer prefix of one:
  ` + d("ab12") + `  docker.io/library/nginx:1.27
  ` + d("ab34") + `  docker.io/library/nginx:1.28`},
		{name: "sha256:ab", err: `"sha256:ab" names 2 profiles`},
		{name: "nginx:1.29", err: `no profile is named "nginx:1.29"`},
		{name: "registry.local", err: "no profile is named"},
		{name: "cart:v2", err: "no profile is named"},
		{name: "", err: "no profile is named"},
		{name: d("ff"), err: "no profile is named"},
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

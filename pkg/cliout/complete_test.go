package cliout

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/pkg/profile"
)

func TestListMatching(t *testing.T) {
	nodes := []string{"node-b", "node-a", "", "gpu-1", "node-a"}
	for _, c := range []struct {
		toComplete string
		want       []string
	}{
		{"", []string{"gpu-1", "node-a", "node-b"}},
		{"node", []string{"node-a", "node-b"}},
		{"node-a,", []string{"node-a,gpu-1", "node-a,node-b"}},
		{"node-a,g", []string{"node-a,gpu-1"}},
		{"x", nil},
	} {
		if got := ListMatching(nodes, c.toComplete); !slices.Equal(got, c.want) {
			t.Errorf("ListMatching(%q) = %q, want %q", c.toComplete, got, c.want)
		}
	}
}

func TestImageCompletions(t *testing.T) {
	d := func(hex string) string { return "sha256:" + hex + strings.Repeat("0", 64-len(hex)) }
	known := []profile.ImageRef{
		{Image: "docker.io/library/nginx:1.27", Digest: d("ab12")},
		{Image: "docker.io/library/nginx:1.27", Digest: d("ab34")}, // the tag moved: the name is ambiguous
		{Image: "ghcr.io/shop/cart:v2", Digest: d("cd56")},
	}
	for _, c := range []struct {
		toComplete string
		want       []string
	}{
		{"", []string{"ghcr.io/shop/cart:v2\tsha256:cd5600000000…", d("ab12") + "\tnginx:1.27", d("ab34") + "\tnginx:1.27", d("cd56") + "\tghcr.io/shop/cart:v2"}},
		{"sha256:ab3", []string{d("ab34") + "\tnginx:1.27"}},
		{"ab", []string{strings.TrimPrefix(d("ab12"), "sha256:") + "\tnginx:1.27", strings.TrimPrefix(d("ab34"), "sha256:") + "\tnginx:1.27"}},
		{"ghcr", []string{"ghcr.io/shop/cart:v2\tsha256:cd5600000000…"}},
		{"nginx", nil},
	} {
		if got := ImageCompletions(known, c.toComplete); !slices.Equal(got, c.want) {
			t.Errorf("ImageCompletions(%q) =\n%q\nwant\n%q", c.toComplete, got, c.want)
		}
	}
}

// TestCompletionsEscape completes names holding control characters: the
// shell lists candidates and descriptions on the terminal, escaped.
func TestCompletionsEscape(t *testing.T) {
	if got, want := Matching([]string{"node\x1b[2K"}, "node"), []string{`node\x1b[2K`}; !slices.Equal(got, want) {
		t.Errorf("Matching = %q, want %q", got, want)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	got := ImageCompletions([]profile.ImageRef{{Image: "evil\a:1", Digest: digest}}, "")
	if want := []string{`evil\a:1` + "\tsha256:abababababab…", digest + "\t" + `evil\a:1`}; !slices.Equal(got, want) {
		t.Errorf("ImageCompletions = %q, want %q", got, want)
	}
}

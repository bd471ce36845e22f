package profile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/test/testenv"
)

func TestCompare(t *testing.T) {
	a, err := Decode("a.yaml", []byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	b := a.Clone()
	b.Metadata.Mode, b.Metadata.Version = ModeMonitor, 2
	b.Spec.Executables = append(b.Spec.Executables, ExecEntry{Path: "/bin/sh"})
	b.Spec.Files[0].Access = AccessReadWrite
	b.Spec.Capabilities = nil
	d, err := Compare("a.yaml", a, "b.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	want := []ListDiff{
		{List: ListExecutables, Added: []string{"/bin/sh"}},
		{List: ListFiles, Added: []string{"/etc/hosts (readwrite)"}, Removed: []string{"/etc/hosts (read)"}},
		{List: ListCapabilities, Removed: []string{"CAP_NET_RAW"}},
	}
	if !reflect.DeepEqual(d.Lists, want) {
		t.Errorf("lists %+v, want %+v", d.Lists, want)
	}
	if d.FromMode != ModeEnforce || d.ToMode != ModeMonitor || d.FromVersion != 0 || d.ToVersion != 2 || d.Empty() {
		t.Errorf("mode/version %s→%s v%d→v%d", d.FromMode, d.ToMode, d.FromVersion, d.ToVersion)
	}
	for _, line := range []string{"--- a.yaml\n+++ b.yaml\n", "-  mode: enforce\n", "+  mode: monitor\n", "+    - path: /bin/sh\n", "-    - name: CAP_NET_RAW\n"} {
		if !strings.Contains(d.Text, line) {
			t.Errorf("text diff lacks %q:\n%s", line, d.Text)
		}
	}
	same, err := Compare("a", a, "a", a.Clone())
	if err != nil || !same.Empty() || same.Text != "" {
		t.Errorf("a profile against its clone: %+v %v", same, err)
	}
}

// TestUnifiedDiffAppliesWithPatch checks the text diff with GNU patch:
// random edits of a document, diffed and applied, must give the edited
// document back.
func TestUnifiedDiffAppliesWithPatch(t *testing.T) {
	patch, err := exec.LookPath("patch")
	testenv.RequireInstalled(t, "GNU patch", err)
	rng := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	for round := 0; round < 30; round++ {
		var a []string
		for i := 0; i < 5+rng.IntN(60); i++ {
			a = append(a, fmt.Sprintf("line %d\n", rng.IntN(12)))
		}
		b := append([]string(nil), a...)
		for e := 0; e < 1+rng.IntN(8); e++ {
			i := rng.IntN(len(b) + 1)
			switch rng.IntN(3) {
			case 0:
				b = append(b[:i], append([]string{fmt.Sprintf("new %d\n", e)}, b[i:]...)...)
			case 1:
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			case 2:
				if i < len(b) {
					b[i] = fmt.Sprintf("changed %d\n", e)
				}
			}
		}
		as, bs := strings.Join(a, ""), strings.Join(b, "")
		target := filepath.Join(dir, "doc")
		if err := os.WriteFile(target, []byte(as), 0o600); err != nil {
			t.Fatal(err)
		}
		text := UnifiedDiff("a/doc", "b/doc", []byte(as), []byte(bs))
		if as == bs {
			if text != "" {
				t.Fatalf("equal inputs gave a diff:\n%s", text)
			}
			continue
		}
		cmd := exec.Command(patch, "--silent", "--no-backup-if-mismatch", target)
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("patch rejected the diff: %v\n%s\ndiff:\n%s", err, out, text)
		}
		got, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != bs {
			t.Fatalf("patched document differs\nwant:\n%s\ngot:\n%s\ndiff:\n%s", bs, got, text)
		}
	}
}

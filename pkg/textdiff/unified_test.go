package textdiff

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/test/testenv"
)

// TestUnifiedAppliesWithPatch checks the text diff with GNU patch:
// random edits of a document, diffed and applied, must give the edited
// document back.
func TestUnifiedAppliesWithPatch(t *testing.T) {
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
		text := Unified("a/doc", "b/doc", []byte(as), []byte(bs))
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

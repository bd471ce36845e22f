package approval

import "testing"

// TestCanonical: the order and repetition of image patterns do not change
// the canonical form; every field that changes what runs does.
func TestCanonical(t *testing.T) {
	a := Policy{Images: []string{"docker.io/library/nginx", "myacr.azurecr.io/*", "docker.io/library/nginx"}, Action: ActionAlert}
	b := Policy{Images: []string{"myacr.azurecr.io/*", "docker.io/library/nginx"}, Action: ActionAlert}
	docA, sumA := a.Canonical()
	docB, sumB := b.Canonical()
	if docA != docB || sumA != sumB {
		t.Fatalf("same policy, two forms: %s %s / %s %s", docA, sumA, docB, sumB)
	}
	if want := `{"images":["docker.io/library/nginx","myacr.azurecr.io/*"],"action":"alert"}`; docA != want {
		t.Fatalf("canonical %s, want %s", docA, want)
	}
	if a.Images[1] != "myacr.azurecr.io/*" {
		t.Fatalf("Canonical reordered the caller's patterns: %v", a.Images)
	}
	if Sum(docA) != sumA || len(sumA) != 64 {
		t.Fatalf("sum %s", sumA)
	}
	seen := map[string]bool{sumA: true}
	for _, p := range []Policy{
		{Images: b.Images, Action: ActionEnforce},
		{Images: b.Images, Action: ActionAlert, RequireKnownDigest: true},
		{Images: b.Images[:1], Action: ActionAlert},
		{Action: ActionOff},
	} {
		_, sum := p.Canonical()
		if seen[sum] {
			t.Errorf("%+v: sum %s repeats another policy's", p, sum)
		}
		seen[sum] = true
	}
}

package profile

import (
	"strings"
	"testing"
)

func writtenObs(p string) Observation { return Observation{Kind: KindExec, Path: p, Written: true} }

// TestWrittenExecutables: an entry of the image's file does not allow a
// file written at run time onto its path; a written entry allows both.
func TestWrittenExecutables(t *testing.T) {
	p := &Profile{Metadata: Metadata{Digest: testDigest("origin")}, Spec: Spec{Executables: []ExecEntry{
		{Path: "/bin/cat"}, {Path: "/app/plugins/*", Written: true},
	}}}
	for _, c := range []struct {
		o    Observation
		want bool
		rule string
	}{
		{execObs("/bin/cat"), true, "executables: /bin/cat"},
		{writtenObs("/bin/cat"), false, noWrittenRule},
		{writtenObs("/bin/nc"), false, noWrittenRule},
		{execObs("/bin/nc"), false, "no rule matched in executables"},
		{writtenObs("/app/plugins/x.so"), true, "executables: /app/plugins/* (written)"},
		{execObs("/app/plugins/x.so"), true, "executables: /app/plugins/* (written)"},
	} {
		ok, rule := p.Allows(c.o)
		if ok != c.want || rule != c.rule {
			t.Errorf("Allows(%s written=%v) = %v %q, want %v %q", c.o.Path, c.o.Written, ok, rule, c.want, c.rule)
		}
	}
	if p.CoversExec(ExecEntry{Path: "/bin/cat", Written: true}) {
		t.Error("an entry of the image's file covers a written one")
	}
	if !p.CoversExec(ExecEntry{Path: "/app/plugins/y"}) {
		t.Error("a written entry does not cover the image's file")
	}
}

// TestDraftLearnsWrittenExecutables: an exec of a written file is learned
// as such, widening an entry of the image's file; the origin survives
// YAML, merging and resuming.
func TestDraftLearnsWrittenExecutables(t *testing.T) {
	d := mustDraft(t, "origin", Limits{})
	if n := observeAll(t, d, "c1", "n1", t0, execObs("/bin/sh"), execObs("/usr/bin/tool")); n != 2 {
		t.Fatalf("%d entries added, want 2", n)
	}
	if n := observeAll(t, d, "c1", "n1", t0, writtenObs("/usr/bin/tool"), writtenObs("/tmp/job")); n != 2 {
		t.Errorf("%d entries added or widened by written execs, want 2", n)
	}
	if n := observeAll(t, d, "c1", "n1", t0, execObs("/tmp/job"), writtenObs("/tmp/job")); n != 0 {
		t.Errorf("%d entries added by execs a written entry allows, want 0", n)
	}
	p := d.Profile()
	want := []string{"/bin/sh", "/tmp/job (written)", "/usr/bin/tool (written)"}
	if got := entryNames(p.Spec.Executables); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("executables %q, want %q", got, want)
	}

	doc, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "origin: written") {
		t.Errorf("the YAML does not say which entries are written:\n%s", doc)
	}
	back, err := Decode("p.yaml", doc)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(p) {
		t.Errorf("decoded profile differs:\n%s", doc)
	}

	image := mustDraft(t, "origin", Limits{})
	observeAll(t, image, "c2", "n2", t0, execObs("/tmp/job"), execObs("/bin/sh"))
	m, err := Merge(Limits{}, image.Profile(), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := entryNames(m.Spec.Executables); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("merged executables %q, want %q", got, want)
	}
	r, err := DraftFromProfile(m, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.Profile().Allows(writtenObs("/tmp/job")); !ok {
		t.Error("a resumed draft lost the written origin")
	}
}

func TestDecodeRejectsUnknownOrigin(t *testing.T) {
	doc := "apiVersion: vigil.dev/v1\nkind: ImageProfile\nmetadata:\n  digest: " + testDigest("o") +
		"\n  version: 1\nspec:\n  executables:\n    - path: /bin/sh\n      origin: upper\n"
	_, err := Decode("bad.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), `unknown origin "upper"`) {
		t.Errorf("Decode of origin: upper: %v", err)
	}
}

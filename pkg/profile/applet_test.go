package profile

import (
	"fmt"
	"strings"
	"testing"
)

func TestAppletAsBusyboxChoosesIt(t *testing.T) {
	long := strings.Repeat("x", MaxAppletLen+1)
	for _, c := range []struct {
		argv      []string
		truncated bool
		want      string
	}{
		{[]string{"sh"}, false, "sh"},
		{[]string{"/bin/sh", "-c", "cat f"}, false, "sh"},
		{[]string{"-sh"}, false, "sh"},
		{[]string{"-/bin/sh"}, false, "sh"},
		{[]string{"/bin/-sh"}, false, "-sh"},
		{[]string{"/bin/busybox", "nc", "-l"}, false, "nc"},
		{[]string{"busybox", "busybox", "/usr/bin/nc"}, false, "nc"},
		{[]string{"busybox.static", "wget"}, false, "wget"},
		{[]string{"-busybox", "nc"}, false, "nc"},
		{[]string{"/bin/busybox", "--list"}, false, "--list"},
		{[]string{"busybox"}, false, ""},
		{nil, false, ""},
		{[]string{""}, false, ""},
		{[]string{"/bin/busybox", "nc/"}, false, ""},
		{[]string{"."}, false, ""},
		{[]string{".."}, false, ""},
		{[]string{long}, false, ""},
		{[]string{"sh", "-c"}, true, "sh"},
		{[]string{"sh"}, true, ""},
		{[]string{"busybox", "nc"}, true, ""},
	} {
		if got := Applet(c.argv, c.truncated); got != c.want {
			t.Errorf("Applet(%q, truncated %v) = %q, want %q", c.argv, c.truncated, got, c.want)
		}
	}
}

func appletObs(p, applet string) Observation {
	return Observation{Kind: KindExec, Path: p, Applet: applet}
}

func TestAppletEntriesAllowOnlyTheirApplets(t *testing.T) {
	p := &Profile{Metadata: Metadata{Digest: testDigest("applets")}, Spec: Spec{Executables: []ExecEntry{
		{Path: "/bin/busybox", As: "sh"}, {Path: "/bin/busybox", As: "cat"}, {Path: "/opt/busybox", As: "true", Written: true},
		{Path: "/usr/bin/env"},
	}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    Observation
		want bool
		rule string
	}{
		{appletObs("/bin/busybox", "sh"), true, "executables: /bin/busybox as sh"},
		{appletObs("/bin/busybox", "cat"), true, "executables: /bin/busybox as cat"},
		{appletObs("/bin/busybox", "nc"), false, "no rule matched in executables"},
		{appletObs("/bin/busybox", ""), false, "no rule matched in executables"},
		{appletObs("/bin/../bin/busybox", "sh"), true, "executables: /bin/busybox as sh"},
		{Observation{Kind: KindExec, Path: "/bin/busybox", Applet: "sh", Written: true}, false, noWrittenRule},
		{Observation{Kind: KindExec, Path: "/opt/busybox", Applet: "true", Written: true}, true, "executables: /opt/busybox as true (written)"},
		{appletObs("/usr/bin/env", "anything"), true, "executables: /usr/bin/env"},
		{appletObs("/bin/busybox/sh", ""), false, "no rule matched in executables"},
	} {
		ok, rule := p.Allows(c.o)
		if ok != c.want || rule != c.rule {
			t.Errorf("Allows(%s as %q) = %v %q, want %v %q", c.o.Path, c.o.Applet, ok, rule, c.want, c.rule)
		}
	}
	for _, c := range []struct {
		e    ExecEntry
		want bool
	}{
		{ExecEntry{Path: "/bin/busybox", As: "sh"}, true},
		{ExecEntry{Path: "/bin/busybox", As: "nc"}, false},
		{ExecEntry{Path: "/bin/busybox"}, false},
		{ExecEntry{Path: "/usr/bin/env", As: "x"}, true},
	} {
		if got := p.CoversExec(c.e); got != c.want {
			t.Errorf("CoversExec(%s) = %v, want %v", c.e, got, c.want)
		}
	}
}

// TestDraftLearnsApplets: execs of busybox learn one entry per applet —
// never collapsed, however many — and other programs learn their path.
func TestDraftLearnsApplets(t *testing.T) {
	d := mustDraft(t, "applets", Limits{})
	obs := []Observation{appletObs("/bin/busybox", "sh"), appletObs("/bin/busybox", "cat"), appletObs("/bin/busybox", "sh"),
		appletObs("/usr/bin/python3.11", "python3")}
	for i := range 100 {
		obs = append(obs, appletObs("/bin/busybox", fmt.Sprintf("applet%c%c", 'a'+i/10, 'a'+i%10)))
	}
	// Last: an entry without an applet allows every applet, and the draft
	// learns no applet it allows.
	obs = append(obs, appletObs("/bin/busybox", ""), appletObs("/bin/busybox", "nc"))
	if n := observeAll(t, d, "c1", "n1", t0, obs...); n != 104 {
		t.Errorf("%d entries added, want 104", n)
	}
	p := d.Profile()
	names := entryNames(p.Spec.Executables)
	for _, want := range []string{"/bin/busybox", "/bin/busybox as cat", "/bin/busybox as sh", "/bin/busybox as appletjj", "/usr/bin/python3.11"} {
		if !contains(names, want) {
			t.Errorf("executables lack %q: %q", want, names)
		}
	}
	if ok, _ := p.Allows(appletObs("/bin/busybox", "nc")); !ok {
		t.Error("the entry learned from an exec that named no applet does not allow every applet")
	}

	q := mustDraft(t, "applets", Limits{})
	observeAll(t, q, "c1", "n1", t0, appletObs("/bin/busybox", "sh"), appletObs("/bin/busybox", "cat"))
	doc, err := Encode(q.Profile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "as: cat") {
		t.Errorf("the YAML does not name the applets:\n%s", doc)
	}
	back, err := Decode("p.yaml", doc)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(q.Profile()) {
		t.Errorf("decoded profile differs:\n%s", doc)
	}
	m, err := Merge(Limits{}, back, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Spec.Executables) != len(p.Spec.Executables) {
		t.Errorf("merged %d executables, want %d", len(m.Spec.Executables), len(p.Spec.Executables))
	}
}

func TestDecodeChecksApplets(t *testing.T) {
	for _, c := range []struct{ entry, want string }{
		{"path: /bin/*\n      as: sh", "path without wildcards"},
		{"path: /bin/busybox\n      as: a/b", "applet name"},
		{"path: /bin/busybox\n      as: ''", "applet name"},
		{"path: /bin/busybox\n      as: sh\n    - path: /bin/busybox\n      as: sh", "duplicate entry"},
	} {
		doc := "apiVersion: vigil.dev/v1\nkind: ImageProfile\nmetadata:\n  digest: " + testDigest("o") +
			"\n  version: 1\nspec:\n  executables:\n    - " + c.entry + "\n"
		if _, err := Decode("bad.yaml", []byte(doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode of %q: %v, want %q", c.entry, err, c.want)
		}
	}
}

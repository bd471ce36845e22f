package profile

import (
	"strings"
	"testing"
)

func imageRead(p string) Observation {
	return Observation{Kind: KindOpen, Path: p, Access: AccessRead, Image: true}
}

// TestImageReadsLearnTheirDirectory: reads of image files learn their
// directory's image content, below two levels only; a subdirectory's entry
// folds into its parent's; writes and run-time files stay exact.
func TestImageReadsLearnTheirDirectory(t *testing.T) {
	d := mustDraft(t, "nginx", Limits{})
	observeAll(t, d, "c", "n", t0,
		imageRead("/usr/share/nginx/html/index.html"),
		imageRead("/usr/lib/python3.11/json/__init__.py"),
		imageRead("/usr/lib/python3.11/os.py"),
		imageRead("/usr/lib/python3.11/json/decoder.py"),
		imageRead("/etc/passwd"),
		imageRead("/app/app.py"),
		imageRead("/proc/12/status"),
		imageRead("/srv/1234/data"),
		Observation{Kind: KindOpen, Path: "/etc/nginx/nginx.conf", Access: AccessReadWrite, Image: true},
		openObs("/app/static/upload.txt", AccessRead),
	)
	var got []string
	for _, f := range d.Profile().Spec.Files {
		got = append(got, f.String())
	}
	want := []string{
		"/app/app.py (read)",
		"/app/static/upload.txt (read)",
		"/etc/nginx/nginx.conf (readwrite)",
		"/etc/passwd (read)",
		"/proc/*/status (read)",
		"/srv/*/data (read)",
		"/usr/lib/python3.11/** (read, from image)",
		"/usr/share/nginx/html/** (read, from image)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if added, err := d.Observe(imageRead("/usr/lib/python3.11/traceback.py")); err != nil || added {
		t.Errorf("another image file of a learned directory: added=%v err=%v, want it allowed by the entry", added, err)
	}
}

// TestImageEntryAllowsOnlyImageReads: an image entry allows reading image
// content below its directory, not a run-time file there, not a write, not
// the directory itself; a plain entry of the same path is another entry.
func TestImageEntryAllowsOnlyImageReads(t *testing.T) {
	p := &Profile{Metadata: Metadata{Digest: testDigest("img")}}
	p.Spec.Files = []FileEntry{
		{Path: "/usr/share/nginx/html/**", Access: AccessRead, Image: true},
		{Path: "/usr/share/nginx/html/**", Access: AccessWrite},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    Observation
		want bool
	}{
		{imageRead("/usr/share/nginx/html/a/b.html"), true},
		{openObs("/usr/share/nginx/html/a/b.html", AccessRead), false},
		{Observation{Kind: KindOpen, Path: "/usr/share/nginx/html/x", Access: AccessReadWrite, Image: true}, false},
		{Observation{Kind: KindOpen, Path: "/usr/share/nginx/html/x", Access: AccessWrite}, true},
		{imageRead("/usr/share/nginx/html"), false},
		{imageRead("/usr/share/nginx/other"), false},
	} {
		if got, rule := p.Allows(c.o); got != c.want {
			t.Errorf("%s %s image=%v: allowed %v (%s), want %v", c.o.Path, c.o.Access, c.o.Image, got, rule, c.want)
		}
	}
	if !p.CoversFile(FileEntry{Path: "/usr/share/nginx/html/a/**", Access: AccessRead, Image: true}) {
		t.Error("an image entry does not cover the image content of its subdirectory")
	}
	if p.CoversFile(FileEntry{Path: "/usr/share/nginx/html/a/b.html", Access: AccessRead}) {
		t.Error("an image entry covers reading a file whatever its origin")
	}
}

func TestImageEntriesRoundTripAndValidate(t *testing.T) {
	p := &Profile{Metadata: Metadata{Digest: testDigest("img"), Mode: ModeMonitor}}
	p.Spec.Files = []FileEntry{{Path: "/app/static/**", Access: AccessRead, Image: true}, {Path: "/app/static/**", Access: AccessRead}}
	p.Spec.Sort()
	data, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "from: image") {
		t.Errorf("encoded without its source:\n%s", data)
	}
	q, err := Decode("image.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Equal(p) {
		t.Errorf("round trip changed the profile:\n%s", data)
	}
	for _, bad := range []string{
		"  - path: /app/static/**\n    access: readwrite\n    from: image\n",
		"  - path: /app/*/x/**\n    access: read\n    from: image\n",
		"  - path: /app/static/x\n    access: read\n    from: image\n",
		"  - path: /**\n    access: read\n    from: image\n",
		"  - path: /app/static/**\n    access: read\n    from: volume\n",
	} {
		doc := "apiVersion: " + APIVersion + "\nkind: " + KindImageProfile + "\nmetadata:\n  digest: " + testDigest("img") +
			"\n  version: 1\nspec:\n  files:\n" + bad
		if _, err := Decode("image.yaml", []byte(doc)); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

// TestMergeKeepsImageEntries: drafts of two nodes merge their image
// entries, a parent's folding its subdirectory's.
func TestMergeKeepsImageEntries(t *testing.T) {
	a, b := mustDraft(t, "py", Limits{}), mustDraft(t, "py", Limits{})
	observeAll(t, a, "c1", "n1", t0, imageRead("/usr/lib/python3.11/json/decoder.py"))
	observeAll(t, b, "c2", "n2", t0, imageRead("/usr/lib/python3.11/os.py"), openObs("/usr/lib/python3.11/os.py", AccessRead))
	m, err := Merge(Limits{}, a.Profile(), b.Profile())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range m.Spec.Files {
		got = append(got, f.String())
	}
	want := "/usr/lib/python3.11/** (read, from image)|/usr/lib/python3.11/os.py (read)"
	if strings.Join(got, "|") != want {
		t.Errorf("merged files %q, want %q", strings.Join(got, "|"), want)
	}
}

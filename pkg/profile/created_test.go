package profile

import (
	"fmt"
	"strings"
	"testing"
)

func createObs(p string, a Access) Observation {
	o := openObs(p, a)
	o.Created = true
	return o
}

// TestCreatedFilesLearnTheirDirectory learns what the notes application
// of test/apps does: mkstemp files in one directory per user, exports
// with a time in their name, reads of files that were there; and, as
// counter-examples, files created in /etc and files opened, not created,
// in one directory.
func TestCreatedFilesLearnTheirDirectory(t *testing.T) {
	d := mustDraft(t, "notes", Limits{})
	var obs []Observation
	for i, suffix := range []string{"k2x_9qa1", "zzpq03mm", "a_b_c_d1", "q9q9q9qx"} {
		obs = append(obs,
			createObs("/var/lib/notes/users/alice/.upload-"+suffix, AccessReadWrite),
			createObs(fmt.Sprintf("/var/lib/notes/exports/notes-%d.tar.gz", 1765043807123+i), AccessWrite),
			createObs("/etc/app/generated-"+suffix+".conf", AccessWrite),
			openObs("/srv/static/"+suffix+".css", AccessWrite))
	}
	obs = append(obs,
		openObs("/var/lib/notes/users/alice/minutes.txt", AccessRead),
		openObs("/var/lib/notes/users/alice", AccessRead), // listing it
		createObs("/var/lib/notes/users/bob/.upload-aaaaaaaa", AccessReadWrite),
		createObs("/var/lib/notes/users/bob/.upload-bbbbbbbb", AccessReadWrite))
	observeAll(t, d, "c", "n", t0, obs...)
	if got := files(d); !strings.Contains(got, "/users/bob/.upload-aaaaaaaa") || !strings.Contains(got, "/users/alice/* readwrite") {
		t.Errorf("before bob's third file: %s; want alice's files as alice/*, bob's listed", got)
	}
	observeAll(t, d, "c", "n", t0, createObs("/var/lib/notes/users/bob/.upload-cccccccc", AccessReadWrite))
	p := d.Profile()
	if got, want := files(d), strings.Join([]string{
		"/etc/app/generated-a_b_c_d1.conf write", "/etc/app/generated-k2x_9qa1.conf write",
		"/etc/app/generated-q9q9q9qx.conf write", "/etc/app/generated-zzpq03mm.conf write",
		"/srv/static/a_b_c_d1.css write", "/srv/static/k2x_9qa1.css write",
		"/srv/static/q9q9q9qx.css write", "/srv/static/zzpq03mm.css write",
		"/var/lib/notes/exports/notes-{n}.tar.gz write",
		"/var/lib/notes/users/* read", "/var/lib/notes/users/*/* readwrite", // minutes.txt was read after alice/* was learned
	}, "\n"); got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}
	for _, tc := range []struct {
		path   string
		access Access
		want   bool
	}{
		{"/var/lib/notes/users/carol/.upload-x1y2z3w4", AccessReadWrite, true},
		{"/var/lib/notes/users/carol/budget.csv", AccessRead, true},
		{"/var/lib/notes/users/carol", AccessRead, true},
		{"/var/lib/notes/users/carol", AccessWrite, false},
		{"/var/lib/notes/exports/notes-1765999999999.tar.gz", AccessWrite, true},
		{"/var/lib/notes/exports/other-1765999999999.tar.gz", AccessWrite, false},
		{"/var/lib/notes/users/carol/deeper/x", AccessRead, false},
		{"/var/lib/notes/config", AccessWrite, false},
		{"/etc/app/generated-new.conf", AccessWrite, false},
		{"/srv/static/new.css", AccessWrite, false},
	} {
		if ok, rule := p.Allows(openObs(tc.path, tc.access)); ok != tc.want {
			t.Errorf("Allows(%s %s) = %v (%s), want %v", tc.access, tc.path, ok, rule, tc.want)
		}
	}
}

func TestCreatableDirectories(t *testing.T) {
	for dir, want := range map[string]bool{
		"/": false, "/etc": false, "/etc/nginx/conf.d": false, "/usr/lib/python3/__pycache__": false, "/bin": false,
		"/tmp": true, "/dev/shm": true, "/var/lib/postgresql/data/base/pgsql_tmp": true, "/usrdata": true, "/etcetera": true,
	} {
		if got := creatable(dir); got != want {
			t.Errorf("creatable(%s) = %v, want %v", dir, got, want)
		}
	}
}

// files lists the draft's file entries, one "path access" a line.
func files(d *Draft) string {
	var out []string
	for _, f := range d.Profile().Spec.Files {
		out = append(out, f.Path+" "+f.Access.String())
	}
	return strings.Join(out, "\n")
}

package policy

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// createOf is an open that created its file, as the sensor reports it.
func createOf(path string, flags uint64) *enrich.Record {
	rec := openOf(path, flags|unix.O_CREAT, 3)
	rec.Event.Flags |= sensor.FlagCreated
	return rec
}

// TestLearnedVolatileNamesMonitorQuietly learns a container that makes
// files with a random number, a date, a mkstemp suffix and a user's name in
// their paths, then monitors it making others of the same kinds: none is
// news; a file of another stem, or in another directory, still is.
func TestLearnedVolatileNamesMonitorQuietly(t *testing.T) {
	e := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, nil)
	rw := uint64(unix.O_RDWR | unix.O_EXCL)
	var learn []*enrich.Record
	for i, user := range []string{"alice", "bob"} {
		for j, suffix := range []string{"k2x_9qa1", "zzpq03mm", "a_b_c_d1"} {
			learn = append(learn,
				createOf(fmt.Sprintf("/dev/shm/PostgreSQL.%d", 1004069810+97*(3*i+j)), rw),
				createOf(fmt.Sprintf("/var/log/pg/postgresql-2026-12-0%d_1936%02d.log", 6+i, 47+j), unix.O_WRONLY|unix.O_APPEND),
				createOf("/var/lib/notes/users/"+user+"/.upload-"+suffix, rw))
		}
	}
	for _, rec := range learn {
		if v, ok := e.Evaluate(rec); !ok || !v.Allowed {
			t.Fatalf("learning verdict = %+v, %v", v, ok)
		}
	}
	learned := e.Drafts()[0].Profile()
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeMonitor, 1
	e = newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, staticSource{digest: learned})
	for _, tc := range []struct {
		rec  *enrich.Record
		want bool
	}{
		{createOf("/dev/shm/PostgreSQL.2209941155", rw), true},
		{createOf("/var/log/pg/postgresql-2027-01-01_000000.log", unix.O_WRONLY|unix.O_APPEND), true},
		{createOf("/var/lib/notes/users/carol/.upload-mmmmmmmm", rw), true},
		{openOf("/var/lib/notes/users/dave/photo.jpg", unix.O_RDONLY, 3), true},
		{createOf("/dev/shm/Evil.2209941155", rw), false},
		{createOf("/var/log/pg/backdoor-2027-01-01_000000.log", unix.O_WRONLY), false},
		{createOf("/var/lib/notes/settings.py", unix.O_WRONLY), false},
	} {
		if v, _ := e.Evaluate(tc.rec); v.Allowed != tc.want || v.Mode != profile.ModeMonitor {
			t.Errorf("%s: %+v, want allowed %v in monitor mode", tc.rec.Event.Open.Path, v, tc.want)
		}
	}
}

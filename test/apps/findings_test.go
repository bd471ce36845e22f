package apps

import (
	"testing"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

func TestFindingsFoldAlertsByObjectAndClassify(t *testing.T) {
	image := map[string]bool{"/srv/www/page-21.html": true, "/usr/lib/python3.11/traceback.py": true}
	chosen := []string{"carol", "budget.csv"}
	open := func(path, access string, action vigilv1.Action) *vigilv1.Alert {
		return &vigilv1.Alert{Kind: vigilv1.Kind_KIND_OPEN, Object: &vigilv1.Object{Path: path}, Access: access,
			Action: action, Process: &vigilv1.Process{Path: "/usr/bin/app"}}
	}
	alerts := []*vigilv1.Alert{
		open("/srv/www/page-21.html", "read", vigilv1.Action_ACTION_ALERTED),
		open("/srv/www/page-21.html", "read", vigilv1.Action_ACTION_BLOCKED),
		open("/usr/lib/python3.11/traceback.py", "read", vigilv1.Action_ACTION_ALERTED),
		open("/dev/shm/PostgreSQL.1004069810", "read,write", vigilv1.Action_ACTION_ALERTED),
		open("/var/lib/notes/users/carol/.upload-k3j_x9qa", "read,write", vigilv1.Action_ACTION_ALERTED),
		open("/var/lib/notes/users/carol/budget.csv", "read", vigilv1.Action_ACTION_ALERTED),
		open("/var/lib/postgresql/data/base/16384/pg_filenode.map", "read", vigilv1.Action_ACTION_ALERTED),
		open("/etc/motd", "read", vigilv1.Action_ACTION_ALERTED),
		{Kind: vigilv1.Kind_KIND_CAPABILITY, Object: &vigilv1.Object{Capability: "CAP_SYS_ADMIN"}, Action: vigilv1.Action_ACTION_ALERTED},
		{Kind: vigilv1.Kind_KIND_CONNECT, Object: &vigilv1.Object{Address: "10.0.0.1", Port: 53, Protocol: "udp"}, Action: vigilv1.Action_ACTION_ALERTED},
	}
	want := []struct {
		object string
		cause  Cause
	}{
		{"/srv/www/page-21.html", CauseImage},
		{"/usr/lib/python3.11/traceback.py", CauseImage},
		{"/dev/shm/PostgreSQL.1004069810", CauseVolatile},
		{"/var/lib/notes/users/carol/.upload-k3j_x9qa", CauseVolatile},
		{"/var/lib/postgresql/data/base/16384/pg_filenode.map", CauseVolatile},
		{"/var/lib/notes/users/carol/budget.csv", CauseChosen},
		{"CAP_SYS_ADMIN", CauseCapability},
		{"10.0.0.1:53/udp", CauseOther},
		{"/etc/motd", CauseOther},
	}
	got := findings(alerts, image, chosen)
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Object != w.object || got[i].Cause != w.cause {
			t.Errorf("finding %d = %s (%s), want %s (%s)", i, got[i].Object, got[i].Cause, w.object, w.cause)
		}
	}
	if a := got[0].Actions; len(a) != 2 || a[0] != "alerted" || a[1] != "blocked" {
		t.Errorf("two alerts of one object give actions %q, want both", a)
	}
}

package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/alert/behaviour"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// TestExecAlertsNameTheAppletAndTheOrigin: an exec of busybox is reported
// as the applet it ran, and one of a file written at run time says so;
// neither folds into another applet's or origin's alert, and both read
// back for a dry run.
func TestExecAlertsNameTheAppletAndTheOrigin(t *testing.T) {
	d, sent := newTestDeduper(t)
	for i, c := range []struct {
		argv    []string
		written bool
	}{
		{[]string{"nc", "-l"}, false},
		{[]string{"/bin/busybox", "wget", "x"}, false},
		{[]string{"/bin/cat", "f"}, true},
		{[]string{"nc", "-e", "/bin/sh"}, false}, // a repeat of the first
	} {
		rec, v := violation(time.Duration(i)*time.Second, "/bin/busybox")
		rec.Event.Exec.Argv = c.argv
		if c.written {
			rec.Event.Flags |= sensor.FlagUpperLayer
		}
		v.Observation.Applet, v.Observation.Written = profile.Applet(c.argv, false), c.written
		d.Report(rec, v, vigilv1.Action_ACTION_KILLED)
	}
	if len(*sent) != 3 {
		t.Fatalf("%d alerts, want nc, wget and the written cat, the repeat folded", len(*sent))
	}
	for i, want := range []string{"exec /bin/busybox as nc by", "exec /bin/busybox as wget by", "exec /bin/busybox as cat (written at run time) by"} {
		a := (*sent)[i]
		if !strings.HasPrefix(a.Detail, want) {
			t.Errorf("alert %d: detail %q, want it to start %q", i, a.Detail, want)
		}
		o, ok := behaviour.Observation(a)
		if !ok || o.Applet != a.Object.Applet || o.Written != a.Object.Written {
			t.Errorf("alert %d reads back as %+v, want applet %q written %v", i, o, a.Object.Applet, a.Object.Written)
		}
	}

	rec, v := violation(0, "/usr/bin/python3")
	v.Observation.Applet = "python3"
	if a := build("node-1", rec, v, vigilv1.Action_ACTION_ALERTED); a.Object.Applet != "" {
		t.Errorf("an exec of a program that is not multi-call names an applet: %q", a.Object.Applet)
	}
}

package alert

import (
	"testing"

	"golang.org/x/sys/unix"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// TestRefusedCreateSaysWhatIsLeft: an open(O_CREAT|O_EXCL) refused by the
// kernel created the file, and leaves it empty; one without O_EXCL ("> f",
// ">> f") leaves an empty file only if there was none
// (TestFanotifyRefusedCreateLeaves shows both on the fanotify tier). A
// refused open that creates nothing, and a create only alerted, say
// nothing.
func TestRefusedCreateSaysWhatIsLeft(t *testing.T) {
	for _, c := range []struct {
		flags  sensor.OpenFlags
		action vigilv1.Action
		left   string
	}{
		{unix.O_RDWR | unix.O_CREAT | unix.O_EXCL, vigilv1.Action_ACTION_BLOCKED, FileLeftEmpty},
		{unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, vigilv1.Action_ACTION_BLOCKED, FileLeftEmptyIfNew},
		{unix.O_WRONLY | unix.O_CREAT | unix.O_APPEND, vigilv1.Action_ACTION_BLOCKED, FileLeftEmptyIfNew},
		{unix.O_WRONLY | unix.O_TRUNC, vigilv1.Action_ACTION_BLOCKED, ""},
		{unix.O_WRONLY | unix.O_CREAT, vigilv1.Action_ACTION_ALERTED, ""},
	} {
		rec, v := violation(0, "/usr/bin/curl")
		rec.Event.Type = sensor.TypeOpen
		rec.Event.Open = sensor.Open{Path: "/etc/cron.d/x", Flags: c.flags, Ret: -int32(unix.EPERM)}
		v.Observation = profile.Observation{Kind: profile.KindOpen, Path: "/etc/cron.d/x", Access: profile.AccessWrite}
		a := build("node-1", rec, v, c.action)
		if got := a.Labels[LabelFileLeft]; got != c.left {
			t.Errorf("flags %v, %v: file_left %q, want %q", c.flags.Names(), c.action, got, c.left)
		}
	}
}

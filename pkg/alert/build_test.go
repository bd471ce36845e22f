package alert

import (
	"testing"

	"golang.org/x/sys/unix"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// TestRefusedCreateSaysTheFileIsLeft: an open(O_CREAT) refused by the
// kernel leaves an empty file (TestFanotifyDeniedCreateLeavesEmptyFile
// shows it on the fanotify tier), and its alert says so; a refused open of
// an existing file, and a create only alerted, do not.
func TestRefusedCreateSaysTheFileIsLeft(t *testing.T) {
	for _, c := range []struct {
		flags  sensor.OpenFlags
		action vigilv1.Action
		left   bool
	}{
		{unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, vigilv1.Action_ACTION_BLOCKED, true},
		{unix.O_RDWR | unix.O_CREAT | unix.O_EXCL, vigilv1.Action_ACTION_BLOCKED, true},
		{unix.O_WRONLY | unix.O_TRUNC, vigilv1.Action_ACTION_BLOCKED, false},
		{unix.O_WRONLY | unix.O_CREAT, vigilv1.Action_ACTION_ALERTED, false},
	} {
		rec, v := violation(0, "/usr/bin/curl")
		rec.Event.Type = sensor.TypeOpen
		rec.Event.Open = sensor.Open{Path: "/etc/cron.d/x", Flags: c.flags, Ret: -int32(unix.EPERM)}
		v.Observation = profile.Observation{Kind: profile.KindOpen, Path: "/etc/cron.d/x", Access: profile.AccessWrite}
		a := build("node-1", rec, v, c.action)
		if got := a.Labels[LabelFileLeft] == FileLeftEmpty; got != c.left {
			t.Errorf("flags %v, %v: labels %v, want file_left %v", c.flags.Names(), c.action, a.Labels, c.left)
		}
	}
}

package agent

import (
	"testing"

	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// TestEntrypointJudgedWithItsApplet: a busybox container's init, run as
// /bin/sleep, is busybox as sleep; a profile allowing only busybox's sh and
// sleep allows it, and not busybox as nc. Judged without its applet, the
// agent warned that an enforced profile would not let the container start
// again when it would.
func TestEntrypointJudgedWithItsApplet(t *testing.T) {
	p := &profile.Profile{Metadata: profile.Metadata{Mode: profile.ModeEnforce}, Spec: profile.Spec{
		Executables: []profile.ExecEntry{{Path: "/bin/busybox", As: "sh"}, {Path: "/bin/busybox", As: "sleep"}},
	}}
	for _, tc := range []struct {
		argv  []string
		allow bool
	}{
		{[]string{"/bin/sleep", "3600"}, true},
		{[]string{"sh", "-c", "sleep 1"}, true},
		{[]string{"/bin/busybox", "sleep", "1"}, true},
		{[]string{"/bin/nc", "-l"}, false},
		{[]string{"/bin/busybox"}, false},
	} {
		o := execOf(process.Process{Path: "/bin/busybox", Argv: tc.argv})
		if ok, rule := p.Allows(o); ok != tc.allow {
			t.Errorf("busybox run as %q (applet %q): allowed %v (%s), want %v", tc.argv, o.Applet, ok, rule, tc.allow)
		}
	}
}

package enforce

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/test/testutil"
)

// BenchmarkFanotifyOpen is the cost the fanotify tier adds to an open the
// profile allows for reading only (no ignore mark can cover it: every open
// asks the listener), in a test container under the real controller (the
// kernel's programs, the policy engine, the listener on the container's
// mounts): a shell reads the file b.N times, in the enforced container and
// outside any marked mount. The shell's own loop is in both.
func BenchmarkFanotifyOpen(b *testing.B) {
	testutil.RequireRoot(b)
	dir := plainTempDir(b)
	busybox, err := filepath.EvalSymlinks("/bin/busybox")
	if err != nil {
		b.Fatal(err)
	}
	layOut(b, dir)
	world := startWorld(b, profile.ModeEnforce, agreeProfile(busybox, dir, 1, false), nil)
	if world.tier("open") != TierFanotify {
		b.Skipf("opens are enforced on the %s tier here, not fanotify", world.tier("open"))
	}
	file := dir + "/data/read.txt"
	loop := func(b *testing.B, run func(string) (int, string)) {
		b.Helper()
		script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do : <%s; i=$((i+1)); done`, b.N, file)
		b.ResetTimer()
		if rc, out := run(script); rc != 0 {
			b.Fatalf("open loop: rc %d: %s", rc, out)
		}
	}
	b.Run("unmarked", func(b *testing.B) {
		loop(b, func(script string) (int, string) {
			out, err := outsideListener("/bin/busybox", "sh", "-c", script).CombinedOutput()
			if err != nil {
				return -1, fmt.Sprintf("%v: %s", err, out)
			}
			return 0, string(out)
		})
	})
	b.Run("enforced", func(b *testing.B) {
		loop(b, func(script string) (int, string) { return world.shell.run(b, script) })
		if rc, out := world.shell.run(b, "echo x >>"+file); rc == 0 {
			b.Fatalf("a write of a file the profile lets be read only went through: %q", out)
		}
	})
}

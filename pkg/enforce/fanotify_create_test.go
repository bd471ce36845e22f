package enforce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/test/testutil"
)

// TestFanotifyRefusedCreateLeaves shows what alerts of refused creates say
// (the file_left label): the permission event of an open(O_CREAT) comes
// after the kernel created a missing file, so refusing the open leaves it
// there, empty, whether the open had O_EXCL (noclobber's "set -C; >") or
// not ("> f"); a file that existed is left as it was, neither truncated
// (">") nor appended to (">>").
func TestFanotifyRefusedCreateLeaves(t *testing.T) {
	testutil.RequireRoot(t)
	dir := tmpfs(t)
	bin := copyBusybox(t, dir)
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startFanotify(t, func(q OpenQuery) OpenAnswer {
		return OpenAnswer{Enforced: true, Allowed: filepath.Base(q.Path) == "busybox"}
	}, dir)

	for _, c := range []struct {
		script, file string
		size         int64
	}{
		{"echo data > $0", filepath.Join(dir, "created"), 0},
		{"set -C; echo data > $0", filepath.Join(dir, "created-excl"), 0},
		{"echo data >> $0", existing, int64(len("kept\n"))},
		{"echo data > $0", existing, int64(len("kept\n"))},
	} {
		if out := run(t, bin, "sh", "-c", c.script, c.file); !strings.Contains(out, "not permitted") {
			t.Fatalf("%s on %s: %q, want EPERM", c.script, c.file, out)
		}
		st, err := os.Stat(c.file) // a stat is no open: the listener is not asked
		if err != nil {
			t.Errorf("%s on %s left no file: %v", c.script, c.file, err)
		} else if st.Size() != c.size {
			t.Errorf("%s on %s left %d bytes, want %d", c.script, c.file, st.Size(), c.size)
		}
	}
}

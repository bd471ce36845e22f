package enforce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/test/testutil"
)

// TestFanotifyDeniedCreateLeavesEmptyFile shows what alerts of refused
// creates say (the file_left label): the permission event of an
// open(O_CREAT) comes after the kernel created the file, so refusing the
// open leaves the file there, empty.
func TestFanotifyDeniedCreateLeavesEmptyFile(t *testing.T) {
	testutil.RequireRoot(t)
	dir := tmpfs(t)
	bin := copyBusybox(t, dir)
	startFanotify(t, func(_ int32, path string) (bool, bool) { return true, filepath.Base(path) != "created" }, dir)

	created := filepath.Join(dir, "created")
	if out := run(t, bin, "sh", "-c", "echo data > "+created); !strings.Contains(out, "not permitted") {
		t.Fatalf("refused create: %q, want EPERM", out)
	}
	st, err := os.Stat(created) // a stat is no open: the listener is not asked
	if err != nil {
		t.Fatalf("the refused create left no file: %v", err)
	}
	if st.Size() != 0 {
		t.Errorf("the refused create left %d bytes, want an empty file", st.Size())
	}
}

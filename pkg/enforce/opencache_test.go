package enforce

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/test/testutil"
)

// countingJudge is the real judge, counting the verdicts asked of it.
type countingJudge struct {
	real  Judge
	asked atomic.Int32
}

func (j *countingJudge) Mode(c *containers.Container) (profile.ModeDecision, *profile.Profile) {
	return j.real.Mode(c)
}

func (j *countingJudge) Judge(c *containers.Container, o profile.Observation) profile.Verdict {
	j.asked.Add(1)
	return j.real.Judge(c, o)
}

// TestOpenCacheKeys checks what the fanotify tier's verdict cache is keyed
// by (no root needed): a file judged once is answered for every access
// without asking the judge again, denials too; a new profile, another
// container or a file changed since (a copy-up out of the image) is judged
// afresh.
func TestOpenCacheKeys(t *testing.T) {
	opens, err := newOpenCache(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctr := &containers.Container{ID: "cache", Image: "cache", ImageDigest: agreeDigest, Scope: 1}
	strict := &profile.Profile{Metadata: profile.Metadata{Digest: agreeDigest, Version: 1}}
	strict.Spec.Files = []profile.FileEntry{{Path: "/srv/read", Access: profile.AccessRead},
		{Path: "/srv/img/*", Access: profile.AccessRead, Image: true}}
	wider := &profile.Profile{Metadata: profile.Metadata{Digest: agreeDigest, Version: 2}}
	wider.Spec.Files = []profile.FileEntry{{Path: "/srv/read", Access: profile.AccessReadWrite}}

	judge := &countingJudge{real: newJudge(t, strict, profile.ModeEnforce)}
	c := &Controller{src: Sources{Judge: judge}, opens: opens}
	file := FileID{Dev: 1, Ino: 2, Ctime: unix.Timespec{Sec: 3}}
	open := func(cgroup uint64, path string, id FileID, access profile.Access, image bool) OpenAnswer {
		t.Helper()
		r, _ := c.openRights(cgroup, ctr, OpenQuery{Path: path, File: id,
			Access: func() profile.Access { return access }, Image: func() bool { return image }}, false)
		return r.answer(func() profile.Access { return access })
	}

	if a := open(7, "/srv/read", file, profile.AccessRead, false); !a.Enforced || !a.Allowed || a.Cacheable {
		t.Fatalf("a read of a file the profile lets be read: %+v", a)
	}
	asked := judge.asked.Load()
	if a := open(7, "/srv/read", file, profile.AccessWrite, false); !a.Enforced || a.Allowed {
		t.Errorf("a write of the file, judged before for a read: %+v, want denied", a)
	}
	if a := open(7, "/srv/read", file, profile.AccessRead, false); !a.Allowed {
		t.Errorf("a read again: %+v", a)
	}
	if a := open(7, "/srv/read", file, 0, false); !a.Allowed {
		t.Errorf("an open of untold access: %+v, want allowed (the profile lets the file be read)", a)
	}
	if n := judge.asked.Load(); n != asked {
		t.Errorf("the judge was asked %d more times about a cached file", n-asked)
	}

	if a := open(8, "/srv/read", file, profile.AccessRead, false); !a.Allowed || judge.asked.Load() == asked {
		t.Errorf("another container's open: %+v, judged afresh: %v", a, judge.asked.Load() != asked)
	}

	c.src.Judge = &countingJudge{real: newJudge(t, wider, profile.ModeEnforce)}
	if a := open(7, "/srv/read", file, profile.AccessWrite, false); !a.Allowed || !a.Cacheable {
		t.Errorf("a write after the profile allowed it, not forgotten yet: %+v, want allowed", a)
	}
	c.src.Judge = judge

	image := FileID{Dev: 1, Ino: 9, Ctime: unix.Timespec{Sec: 3}}
	if a := open(7, "/srv/img/lib", image, profile.AccessRead, true); !a.Allowed {
		t.Errorf("a read of image content: %+v, want allowed", a)
	}
	copiedUp := image
	copiedUp.Ctime.Nsec++
	if a := open(7, "/srv/img/lib", copiedUp, profile.AccessRead, false); a.Allowed {
		t.Errorf("a read of the file once copied up: %+v, want denied (no longer image content)", a)
	}
	if a := open(7, "/srv/img/lib", FileID{}, profile.AccessRead, false); a.Allowed {
		t.Errorf("a read of a file of unknown identity: %+v, want judged (denied)", a)
	}

	before := len(opens.rights)
	opens.forget()
	if before == 0 || len(opens.rights)+len(opens.older) != 0 {
		t.Errorf("forget left %d of %d verdicts", len(opens.rights)+len(opens.older), before)
	}
	if hits := promtest.ToFloat64(opens.lookups.WithLabelValues("hit")); hits != 3 {
		t.Errorf("%v cache hits counted, want 3", hits)
	}
}

// TestOpenCacheBounded fills the verdict cache past its size (no root
// needed): it never holds more than openCacheSize verdicts, the files
// judged lately stay cached, a verdict looked up again survives the drop of
// its generation, and the oldest are judged afresh.
func TestOpenCacheBounded(t *testing.T) {
	opens, err := newOpenCache(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	key := func(i int) openKey {
		return openKey{cgroup: 7, mode: profile.ModeEnforce, path: fmt.Sprintf("/srv/f%d", i), file: FileID{Dev: 1, Ino: uint64(i)}}
	}
	const n = 2*openCacheSize + 10
	for i := range n {
		if i == openCacheSize {
			if _, ok := opens.get(key(1)); !ok {
				t.Fatalf("verdict 1 of %d put is gone", i)
			}
			if _, ok := opens.rights[key(1)]; !ok {
				t.Fatalf("verdict 1, looked up in the older generation, was not moved to the newer")
			}
		}
		opens.put(key(i), openRights{enforced: true, read: true, write: i%2 == 0})
		if held := len(opens.rights) + len(opens.older); held > openCacheSize {
			t.Fatalf("the cache holds %d verdicts after %d put, more than %d", held, i+1, openCacheSize)
		}
	}
	for _, i := range []int{n - 1, n - openCacheSize/2} {
		if r, ok := opens.get(key(i)); !ok || r.write != (i%2 == 0) {
			t.Errorf("verdict %d of %d, put lately: %+v, cached %v", i, n, r, ok)
		}
	}
	if _, ok := opens.get(key(0)); ok {
		t.Errorf("the first verdict of %d is still cached in a cache of %d", n, openCacheSize)
	}
	if resets := promtest.ToFloat64(opens.lookups.WithLabelValues("reset")); resets < 3 {
		t.Errorf("%v generations dropped after %d verdicts, want at least 3", resets, n)
	}
}

// TestFanotifyCacheKeepsWritesDenied runs a test container under the real
// controller: a file the profile lets be read only is read many times (its
// verdict cached), and a write of it is still refused with EPERM, as is a
// read of a file the profile does not name, each time.
func TestFanotifyCacheKeepsWritesDenied(t *testing.T) {
	testutil.RequireRoot(t)
	dir := plainTempDir(t)
	busybox, err := filepath.EvalSymlinks("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	layOut(t, dir)
	world := startWorld(t, profile.ModeEnforce, agreeProfile(busybox, dir, 1, false), nil)
	if world.tier("open") != TierFanotify {
		t.Skipf("opens are enforced on the %s tier here, not fanotify", world.tier("open"))
	}
	readOnly := dir + "/data/read.txt"
	for range 3 {
		if rc, out := world.shell.run(t, "/bin/busybox cat "+readOnly); rc != 0 || out != "r\n" {
			t.Fatalf("a read of a file the profile lets be read: rc %d %q", rc, out)
		}
		for _, refused := range []string{"echo x >>" + readOnly, "( : <>" + readOnly + " )", "/bin/busybox cat " + dir + "/secret"} {
			if rc, out := world.shell.run(t, refused); rc == 0 || !strings.Contains(out, "not permitted") {
				t.Errorf("%q: rc %d %q, want EPERM", refused, rc, out)
			}
		}
	}
	if hits := promtest.ToFloat64(world.ctl.opens.lookups.WithLabelValues("hit")); hits < 6 {
		t.Errorf("%v opens answered from the cache, want at least 6", hits)
	}
}

package enforce

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestFanotifyDeniesPerJudge marks a tmpfs mount of the test's own and
// checks that the judge's verdicts
// reach the kernel: a denied open fails with EPERM, an allowed one and an
// exec go through, and an open the judge does not answer in time goes
// through too (fail-open).
func TestFanotifyDeniesPerJudge(t *testing.T) {
	testutil.RequireRoot(t)
	dir := tmpfs(t)
	for _, name := range []string{"allowed", "denied", "slow"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := copyBusybox(t, dir)

	judge := func(q OpenQuery) OpenAnswer {
		switch filepath.Base(q.Path) {
		case "denied":
			return OpenAnswer{Enforced: true}
		case "slow":
			time.Sleep(2 * fanotifyDeadline)
			return OpenAnswer{Enforced: true}
		}
		return OpenAnswer{Enforced: true, Allowed: true, Cacheable: true}
	}
	f := startFanotify(t, judge, dir)

	if out := run(t, bin, "cat", filepath.Join(dir, "allowed")); out != "allowed" {
		t.Errorf("allowed open and exec: %q", out)
	}
	if out := run(t, bin, "cat", filepath.Join(dir, "denied")); !strings.Contains(out, "not permitted") {
		t.Errorf("denied open: %q, want EPERM", out)
	}
	if out := run(t, bin, "cat", filepath.Join(dir, "slow")); out != "slow" {
		t.Errorf("an open judged past the deadline: %q, want it let through", out)
	}
	f.Unmark(1)
	if out := run(t, bin, "cat", filepath.Join(dir, "denied")); out != "denied" {
		t.Errorf("after unmarking: %q, want the open through", out)
	}
}

// TestFanotifyTellsReadFromWrite: the listener reads the access of an open
// from the waiting thread, so a file the judge lets be read only cannot be
// written ("echo x >> f" went through before, the tier judging every open
// as "read or write"), and such a file is never cached: every open of it
// is asked again.
func TestFanotifyTellsReadFromWrite(t *testing.T) {
	testutil.RequireRoot(t)
	dir := tmpfs(t)
	bin := copyBusybox(t, dir)
	readOnly := filepath.Join(dir, "hostname")
	if err := os.WriteFile(readOnly, []byte("box\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	f := startFanotify(t, func(q OpenQuery) OpenAnswer {
		if q.Path != readOnly {
			return OpenAnswer{Enforced: true, Allowed: true, Cacheable: true}
		}
		asked.Add(1)
		return OpenAnswer{Enforced: true, Allowed: q.Access() == profile.AccessRead}
	}, dir)

	for range 3 {
		if out := run(t, bin, "cat", readOnly); out != "box\n" {
			t.Fatalf("a read of a file the judge lets be read: %q", out)
		}
	}
	for _, script := range []string{"echo x >> $0", "echo x > $0", ": <>$0"} {
		if out := run(t, bin, "sh", "-c", script, readOnly); !strings.Contains(out, "not permitted") {
			t.Errorf("%q on a file the judge lets be read only: %q, want EPERM", script, out)
		}
	}
	if n := asked.Load(); n != 6 {
		t.Errorf("the judge was asked %d times about the file, want 6: a read-only file must not be cached", n)
	}
	if data, err := os.ReadFile(readOnly); err != nil || string(data) != "box\n" {
		t.Errorf("the file after refused writes: %q, %v", data, err)
	}
	if n := promtest.ToFloat64(f.m.accessUnknown); n != 0 {
		t.Errorf("%v opens of a blocked thread had their access untold", n)
	}
}

// TestFanotifyAnswersEveryEventOfABurst opens, all at once, files the judge
// allows and files it refuses: every open gets its own answer, though
// several events arrive in one read and their goroutines run after the next.
func TestFanotifyAnswersEveryEventOfABurst(t *testing.T) {
	testutil.RequireRoot(t)
	dir := tmpfs(t)
	const files = 64
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	odd := func(path string) bool { n, _ := strconv.Atoi(filepath.Base(path)); return n%2 == 1 }
	// One P: the reader reads the next batch before the goroutines of the
	// last one run, as on a busy node.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	startFanotify(t, func(q OpenQuery) OpenAnswer {
		return OpenAnswer{Enforced: true, Allowed: !odd(q.Path), Cacheable: true}
	}, dir)

	// One shell opens every file in parallel, from outside the listener;
	// an open left unanswered would hang it: the deadline fails the test.
	var script strings.Builder
	for i := range files {
		fmt.Fprintf(&script, "(cat %s/%d >/dev/null 2>&1; echo %d $?) & ", dir, i, i)
	}
	script.WriteString("wait")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sh := exec.CommandContext(ctx, "/bin/busybox", "sh", "-c", script.String())
	sh.WaitDelay = time.Second // a cat still waiting holds the output open
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("the burst: %v (an open left unanswered?)", err)
	}
	got := strings.Fields(string(out))
	if len(got) != 2*files {
		t.Fatalf("answers for %d opens, want %d: %q", len(got)/2, files, out)
	}
	for i := 0; i < len(got); i += 2 {
		if refused := got[i+1] != "0"; refused != odd(got[i]) {
			t.Errorf("open of %s: exit %s, want refused only for odd files", got[i], got[i+1])
		}
	}
}

// TestFanotifyCachesAllowedExecs execs from an overlay, as a container
// does: a binary the profile also lets the container read is cached after
// its first exec (no more permission events), one it does not is let
// through on every exec but never cached, so reading it stays refused.
func TestFanotifyCachesAllowedExecs(t *testing.T) {
	testutil.RequireRoot(t)
	dir := tmpfs(t)
	for _, sub := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyBusybox(t, filepath.Join(dir, "lower"))
	// The same binary where the profile lets nothing be read (busybox
	// picks its applet by argv[0]: the name stays).
	if err := os.Mkdir(filepath.Join(dir, "lower", "locked"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyBusybox(t, filepath.Join(dir, "lower", "locked"))
	merged := filepath.Join(dir, "merged")
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", dir, dir, dir)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	f := startFanotify(t, func(q OpenQuery) OpenAnswer {
		allowed := filepath.Base(filepath.Dir(q.Path)) != "locked"
		return OpenAnswer{Enforced: true, Allowed: allowed, Cacheable: allowed}
	}, merged)

	decisions := func() map[string]float64 {
		got := map[string]float64{}
		for _, label := range []string{"allowed", "denied", "exec", "timeout"} {
			if n := promtest.ToFloat64(f.m.decisions.WithLabelValues(label)); n != 0 {
				got[label] = n
			}
		}
		return got
	}
	// An answer is counted just after it is written: wait for the counts,
	// then make sure nothing more comes.
	settled := func(want map[string]float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !maps.Equal(decisions(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("decisions = %v, want %v", decisions(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if got := decisions(); !maps.Equal(got, want) {
			t.Fatalf("decisions = %v, want %v", got, want)
		}
	}
	// An exec's file is cached after its answer: wait for the mark.
	cached := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for ignoreMarks(t, f) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d ignore marks, want %d", ignoreMarks(t, f), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	execTrue := func(bin string) {
		t.Helper()
		if out := run(t, bin, "echo", "ran"); out != "ran\n" {
			t.Fatalf("exec %s: %q", bin, out)
		}
	}

	execTrue(filepath.Join(merged, "busybox"))
	settled(map[string]float64{"exec": 2}) // OPEN_EXEC_PERM, then OPEN_PERM
	cached(1)
	execTrue(filepath.Join(merged, "busybox"))
	if out := run(t, filepath.Join(merged, "busybox"), "cat", filepath.Join(merged, "busybox")); len(out) == 0 {
		t.Error("reading the cached binary printed nothing")
	}
	settled(map[string]float64{"exec": 2})

	for range 2 {
		execTrue(filepath.Join(merged, "locked", "busybox"))
	}
	settled(map[string]float64{"exec": 6})
	if out := run(t, filepath.Join(merged, "busybox"), "cat", filepath.Join(merged, "locked", "busybox")); !strings.Contains(out, "not permitted") {
		t.Errorf("reading an exec'd binary the profile does not let the container read: %q, want EPERM", out)
	}
	settled(map[string]float64{"exec": 6, "denied": 1})
	if n := ignoreMarks(t, f); n != 1 {
		t.Errorf("%d ignore marks, want only the readable binary's", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.execs) != 0 {
		t.Errorf("exec table holds %d opens after every exec ended", len(f.execs))
	}
}

// ignoreMarks counts the inode marks with an ignore mask the listener
// holds, from its fdinfo.
func ignoreMarks(t *testing.T, f *Fanotify) int {
	t.Helper()
	return fdinfoMarks(t, f, "fanotify ino:", " ignored_mask:0 ")
}

// fdinfoMarks counts the marks of the listener's fdinfo whose line starts
// with prefix, leaving out those that contain unless.
func fdinfoMarks(t *testing.T, f *Fanotify, prefix string, unless ...string) int {
	t.Helper()
	var b []byte
	var err error
	if cerr := f.conn.Control(func(fd uintptr) { b, err = os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd)) }); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) && !slices.ContainsFunc(unless, func(u string) bool { return strings.Contains(line, u) }) {
			n++
		}
	}
	return n
}

// copyBusybox puts busybox on the marked mount at dir.
func copyBusybox(tb testing.TB, dir string) string {
	tb.Helper()
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "busybox")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		tb.Fatal(err)
	}
	return path
}

// outsideListener runs args through an unmarked shell. The process that
// answers permission events must never exec a marked file itself: Go forks
// with vfork and the forking thread keeps its P until the child's exec is
// answered, so a stop-the-world GC in between deadlocks the listener.
func outsideListener(args ...string) *exec.Cmd {
	return exec.Command("/bin/busybox", append([]string{"sh", "-c", `exec "$@"`, "sh"}, args...)...)
}

// BenchmarkFanotifyExec is the cost the fanotify tier adds to an exec in an
// enforced container when the exec is not cached: a shell forks and execs
// busybox true on a tmpfs b.N times, marked against unmarked.
func BenchmarkFanotifyExec(b *testing.B) {
	testutil.RequireRoot(b)
	dir := tmpfs(b)
	bin := copyBusybox(b, dir)
	execLoop := func(b *testing.B) {
		loop := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do "$0" true; i=$((i+1)); done`, b.N)
		b.ResetTimer()
		if out, err := exec.Command("/bin/busybox", "sh", "-c", loop, bin).CombinedOutput(); err != nil {
			b.Fatalf("exec loop: %v: %s", err, out)
		}
	}
	b.Run("unmarked", execLoop)
	b.Run("marked", func(b *testing.B) {
		startFanotify(b, func(OpenQuery) OpenAnswer { return OpenAnswer{Enforced: true, Allowed: true, Cacheable: true} }, dir)
		execLoop(b)
	})
}

// tmpfs mounts a tmpfs of the test's own, so marks reach nothing else.
func tmpfs(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// startFanotify runs a listener with judge on the mounts at paths (the
// test's own only) until the test ends.
func startFanotify(tb testing.TB, judge OpenJudge, paths ...string) *Fanotify {
	tb.Helper()
	f, err := NewFanotify(judge, procfs.DefaultRoot, testutil.RuntimeMountNamespace(tb), zaptest.NewLogger(tb), prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	testutil.RunUntilCleanup(tb, "fanotify listener", f.Run)
	markPaths(tb, f, 1, paths...)
	return f
}

// markPaths marks the mounts at paths for scope, bypassing Mark's refusal
// of the host's mounts: the tests' own tmpfs mounts are the host's.
func markPaths(tb testing.TB, f *Fanotify, scope uint32, paths ...string) {
	tb.Helper()
	var mounts []markedMount
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			tb.Fatal(err)
		}
		id, _, _, err := mountOf(fd)
		if err != nil {
			tb.Fatal(err)
		}
		mounts = append(mounts, markedMount{id: id, fd: fd, point: p})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.addLocked(scope, mounts); err != nil {
		tb.Fatal(err)
	}
}

// addMarks marks the mount at path for scope like markPaths, and returns
// the error instead of failing the test.
func addMarks(f *Fanotify, scope uint32, path string) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	id, _, _, err := mountOf(fd)
	if err == nil {
		f.mu.Lock()
		err = f.addLocked(scope, []markedMount{{id: id, fd: fd, point: path}})
		f.mu.Unlock()
	}
	if err != nil {
		unix.Close(fd)
	}
	return err
}

// run runs args outside the listener and returns what they printed; a
// non-zero exit is an answer, not a failure.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := outsideListener(args...).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", args, err)
	}
	return string(out)
}

// TestFanotifyFailureReleasesOpens makes reading events fail: Run returns
// the error and closes the group, so an open in a marked mount goes through
// at once instead of waiting, unanswered, until the listener's context ends.
func TestFanotifyFailureReleasesOpens(t *testing.T) {
	testutil.RequireRoot(t)
	dir := tmpfs(t)
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := NewFanotify(func(OpenQuery) OpenAnswer { return OpenAnswer{Enforced: true} }, procfs.DefaultRoot, testutil.RuntimeMountNamespace(t),
		zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.file.Close() })
	markPaths(t, f, 1, dir)
	f.read = func([]byte) (int, error) { return 0, unix.EIO }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // the listener's context outlives the open
	if err := f.Run(ctx); !errors.Is(err, unix.EIO) || !f.Stopped() {
		t.Fatalf("run with failing reads: %v, stopped %v", err, f.Stopped())
	}
	open, cancelOpen := context.WithTimeout(ctx, 5*time.Second)
	defer cancelOpen()
	start := time.Now()
	out, err := exec.CommandContext(open, "/bin/busybox", "cat", file).CombinedOutput()
	if err != nil || string(out) != "f" || time.Since(start) > 2*time.Second {
		t.Fatalf("open in a marked mount after the listener failed: %v %q after %v", err, out, time.Since(start))
	}
}

// TestFanotifyMarksRaceTheClose marks and unmarks while Run closes the
// group at the end of its context, as the controller may when the agent
// stops. Marks share the group's descriptor with Run: they must neither read
// it unsynchronised with the close (the race detector's finding when they
// used file.Fd()) nor switch it to blocking mode (Fd does), which left Run's
// read stuck in the kernel after the close. A mark after the close fails with
// os.ErrClosed, and Forget and Unmark are no-ops then.
func TestFanotifyMarksRaceTheClose(t *testing.T) {
	testutil.RequireRoot(t)
	dir := tmpfs(t)
	f, err := NewFanotify(func(OpenQuery) OpenAnswer { return OpenAnswer{Enforced: true, Allowed: true} }, procfs.DefaultRoot,
		testutil.RuntimeMountNamespace(t), zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	markPaths(t, f, 1, dir)
	f.Forget()
	var marking sync.WaitGroup
	var marked atomic.Int64
	some, stopped := make(chan struct{}), make(chan error, 1)
	marking.Go(func() {
		for {
			if err := addMarks(f, 2, dir); err != nil {
				stopped <- err
				return
			}
			if marked.Add(1) == 10 {
				close(some)
			}
			f.Unmark(2)
		}
	})
	select {
	case <-some:
	case err := <-stopped:
		t.Fatalf("mark while the listener runs: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still reading 10 s after its context ended")
	}
	marking.Wait()
	if err := <-stopped; !errors.Is(err, os.ErrClosed) {
		t.Errorf("the mark that met the close: %v, want os.ErrClosed", err)
	}
	if err := addMarks(f, 3, dir); !errors.Is(err, os.ErrClosed) {
		t.Errorf("mark after the group closed: %v, want os.ErrClosed", err)
	}
	f.Forget()
	f.Unmark(1)
	t.Logf("%d marks made while the listener ran", marked.Load())
}

// TestOpenTierLost: once the fanotify listener stops, the open guard kills
// for forbidden opens (signal tier), or where it is not loaded the open hook
// is alert-only, in Tiers and in vigil_enforcement_tier, which keeps one
// series a hook.
func TestOpenTierLost(t *testing.T) {
	for _, tc := range []struct {
		guardErr error
		want     HookTier
	}{
		{nil, HookTier{Hook: "open", Tier: TierSignal,
			Reason: "the fanotify listener stopped: forbidden opens are killed at their exit (read fanotify events: EIO)"}},
		{errors.New("no tp_btf"), HookTier{Hook: "open", Tier: TierAlertOnly,
			Reason: "the fanotify listener stopped: read fanotify events: EIO; no open guard: no tp_btf"}},
	} {
		c := &Controller{tiers: Tiers(Probes{LSM: errors.New("no BPF LSM"), ModReturn: errors.New("no trampolines")})}
		var err error
		if c.tierGauge, err = RegisterTiers(prometheus.NewRegistry(), c.tiers); err != nil {
			t.Fatal(err)
		}
		c.openTierLost(errors.New("read fanotify events: EIO"), tc.guardErr)
		if got := c.Tiers()[1]; got != tc.want {
			t.Errorf("open tier after the listener stopped: %+v, want %+v", got, tc.want)
		}
		if n := promtest.CollectAndCount(c.tierGauge); n != len(c.tiers) {
			t.Errorf("vigil_enforcement_tier has %d series, want %d (one a hook)", n, len(c.tiers))
		}
		if v := promtest.ToFloat64(c.tierGauge.WithLabelValues("open", string(tc.want.Tier), tc.want.Reason)); v != 1 {
			t.Errorf("vigil_enforcement_tier{open,%s} = %v", tc.want.Tier, v)
		}
	}
}

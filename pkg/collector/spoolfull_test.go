package collector

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/store"
	"github.com/vigil-dev/vigil/test/testutil"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted when
// the test ends.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// storedOnce returns which of alert-000000 … alert-(n-1) the store holds,
// failing the test if one is stored twice or another alert is stored.
func storedOnce(t *testing.T, st store.Store, n int) []bool {
	t.Helper()
	alerts, _, err := st.QueryAlerts(testCtx(t, 30*time.Second), store.Query{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]bool, n)
	for _, a := range alerts {
		var i int
		if _, err := fmt.Sscanf(a.GetId(), "alert-%06d", &i); err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected alert %q stored", a.GetId())
		}
		if got[i] {
			t.Fatalf("%s stored twice", a.GetId())
		}
		got[i] = true
	}
	return got
}

func count(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// TestSpoolRecoversFromFullFilesystem fills the spool's file system (a
// 1 MiB tmpfs) while the collector is down: the alerts that do not fit are
// dropped and counted, the oldest are kept and delivered once the collector
// is back, and the shipper takes and delivers new alerts again without a
// restart.
func TestSpoolRecoversFromFullFilesystem(t *testing.T) {
	testutil.RequireRoot(t)
	dir := mountTmpfs(t, 1<<20)
	ca := newAuthority(t)
	addr := testutil.FreeAddr(t) // the collector is down
	s, reg := newShipper(t, ca, addr, filepath.Join(dir, "spool"))
	dropped := func(reason string) float64 { return metric(t, reg, "vigil_ship_dropped_total", "reason", reason) }
	spoolDrops := func() float64 { return dropped("disk_full") + dropped("spool_error") }

	const offered = 16000 // ~2.2 MiB of spool records: twice the file system
	enqueue(t, s, 0, offered)
	waitFor(t, func() bool { return s.Counters()["ship_spool_pending"]+uint64(spoolDrops()) == offered })
	kept := int(s.Counters()["ship_spool_pending"])
	if kept == 0 || kept == offered {
		t.Fatalf("a 1 MiB file system kept %d of %d alerts", kept, offered)
	}
	t.Logf("collector down, file system full: %d of %d alerts spooled, %v dropped (disk_full %v, spool_error %v)",
		kept, offered, spoolDrops(), dropped("disk_full"), dropped("spool_error"))

	e := startEnvAt(t, ca, addr, nil)
	start := time.Now()
	if err := s.WaitDelivered(testCtx(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	stored := storedOnce(t, e.store, offered)
	firstMissing := 0
	for firstMissing < offered && stored[firstMissing] {
		firstMissing++
	}
	t.Logf("collector back: %d spooled alerts delivered in %v; the first %d all stored", count(stored),
		time.Since(start).Round(time.Millisecond), firstMissing)
	if count(stored) != kept {
		t.Fatalf("%d alerts stored, %d were spooled", count(stored), kept)
	}
	// Newest dropped: every alert before the first dropped one is stored.
	// Later ones fit only into the space left when the first append failed,
	// less than that append: at most one group commit of 1024 alerts.
	if kept-firstMissing > 1024 {
		t.Fatalf("alert-%06d of %d spooled ones was dropped: the oldest must be kept", firstMissing, kept)
	}

	// Space is free again: new alerts are spooled and delivered, none dropped.
	before, errsBefore := spoolDrops(), metric(t, reg, "vigil_ship_stream_errors_total")
	const after = 2000
	enqueue(t, s, offered, offered+after)
	if err := s.WaitDelivered(testCtx(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	stored = storedOnce(t, e.store, offered+after)
	t.Logf("after recovery: %d of %d new alerts stored, %v dropped, %v stream errors", count(stored[offered:]), after,
		spoolDrops()-before, metric(t, reg, "vigil_ship_stream_errors_total")-errsBefore)
	if n := count(stored[offered:]); n != after {
		t.Errorf("%d of %d alerts enqueued after the collector came back were stored", n, after)
	}
	if d := spoolDrops() - before; d != 0 {
		t.Errorf("%v alerts enqueued after the collector came back were dropped", d)
	}
	if n := metric(t, reg, "vigil_ship_stream_errors_total") - errsBefore; n != 0 {
		t.Errorf("%v alert streams failed after the collector came back", n)
	}
	if n := dropped("spool_error"); n != 0 {
		t.Errorf("a full file system counted as spool_error (%v), want disk_full", n)
	}
}

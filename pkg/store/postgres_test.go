package store

import (
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestPostgres runs the store suite against a real PostgreSQL server that
// the test starts in a temporary directory (Debian's postgresql package,
// installed by test/deps.sh) and stops when it ends.
func TestPostgres(t *testing.T) {
	adminDSN := testutil.StartPostgres(t)
	admin, err := sql.Open("pgx", adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var n atomic.Int64
	runSuite(t, func(t *testing.T) Store {
		// A database per test keeps the tests independent.
		name := fmt.Sprintf("vigil_test_%d", n.Add(1))
		if _, err := admin.ExecContext(testCtx(t), "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		s, err := Open(testCtx(t), fmt.Sprintf("%s&dbname=%s", adminDSN, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestPostgresCursorSeesConcurrentInserts: collectors sharing a database
// insert at once while a reader follows the alerts after a cursor, as each
// replica's live tail does. Sequence numbers are taken in insert order but
// become visible in commit order; without inserts taking turns the reader
// passes numbers not yet committed and misses those alerts.
func TestPostgresCursorSeesConcurrentInserts(t *testing.T) {
	dsn := testutil.StartPostgres(t)
	ctx := testCtx(t)
	const writers, batches, size = 4, 100, 5
	stores := make([]Store, writers+1)
	for i := range stores {
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var alerts []*vigilv1.Alert
				for i := range size {
					alerts = append(alerts, alert(fmt.Sprintf("node-%d", w), fmt.Sprintf("a-%d-%d", b, i), time.Now()))
				}
				if _, err := stores[w].PutAlerts(ctx, alerts); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	reader, seen, cursor := stores[writers], map[string]bool{}, int64(0)
	follow := func() {
		batch, err := reader.AlertsAfter(ctx, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, sa := range batch {
			seen[sa.Alert.GetNode()+"/"+sa.Alert.GetId()] = true
			cursor = sa.Seq
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		follow()
	}
	follow()
	if want := writers * batches * size; len(seen) != want {
		t.Fatalf("the reader saw %d of %d alerts", len(seen), want)
	}
}

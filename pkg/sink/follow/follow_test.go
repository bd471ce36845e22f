package follow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/sink"
	"github.com/vigil-dev/vigil/pkg/store"
)

func testAlert(id string) *vigilv1.Alert {
	return &vigilv1.Alert{Id: id, Time: timestamppb.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)), Node: "node-a",
		Kind: vigilv1.Kind_KIND_EXEC, Object: &vigilv1.Object{Path: "/usr/bin/nc"}, Rule: "exec-not-in-profile", Count: 1}
}

// TestFollowerCountsWhatItCannotDeliver: a real SQLite store and a real
// HTTP receiver that refuses one alert for good: that alert is dropped as
// rejected and the rest delivered; alerts retention deletes before the sink
// reaches them are counted as pruned.
func TestFollowerCountsWhatItCannotDeliver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev sink.FalcoEvent
		json.NewDecoder(r.Body).Decode(&ev)
		if ev.UUID == "a2" {
			http.Error(w, "malformed", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, ev.UUID)
		mu.Unlock()
	}))
	defer srv.Close()
	putAlerts := func(from, to int) {
		t.Helper()
		var alerts []*vigilv1.Alert
		for i := from; i < to; i++ {
			alerts = append(alerts, testAlert(fmt.Sprintf("a%d", i)))
		}
		if _, err := st.PutAlerts(ctx, alerts); err != nil {
			t.Fatal(err)
		}
	}
	putAlerts(0, 1) // before the sink: not replayed

	w, err := sink.NewWebhook(sink.WebhookOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New("webhook", w, st, Options{Poll: 10 * time.Millisecond}, prometheus.NewRegistry(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.Run(runCtx); close(done) }()
	waitUntil := func(cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatal("condition not met in time")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The sink starts after a0, the newest alert stored when it first runs.
	waitUntil(func() bool { _, ok, err := st.SinkCursor(ctx, "webhook"); return ok || err != nil })
	putAlerts(1, 5)
	f.Notify()
	waitUntil(func() bool {
		return testutil.ToFloat64(f.sent)+testutil.ToFloat64(f.dropped.WithLabelValues(dropRejected)) == 4
	})
	mu.Lock()
	if fmt.Sprint(got) != "[a1 a3 a4]" {
		t.Errorf("receiver got %v, want a1 a3 a4 (a0 was stored before the sink, a2 rejected)", got)
	}
	mu.Unlock()
	if n := testutil.ToFloat64(f.dropped.WithLabelValues(dropRejected)); n != 1 {
		t.Errorf("rejected %v, want 1", n)
	}
	stop()
	<-done

	// While the sink is stopped, 5 alerts are stored and retention deletes
	// the 3 oldest of them (and all before).
	putAlerts(5, 10)
	if _, err := st.Prune(ctx, store.Retention{MaxBytes: 2 * int64(proto.Size(testAlert("a5")))}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { f.Run(runCtx); close(done) }()
	waitUntil(func() bool { return testutil.ToFloat64(f.sent) == 5 })
	stop()
	<-done
	if n := testutil.ToFloat64(f.dropped.WithLabelValues(dropPruned)); n != 3 {
		t.Errorf("pruned %v, want 3", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[a1 a3 a4 a8 a9]" {
		t.Errorf("receiver got %v", got)
	}
}

package sink

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

func testAlert(id string) *vigilv1.Alert {
	return &vigilv1.Alert{
		Id:        id,
		Time:      timestamppb.New(time.Date(2026, 5, 1, 12, 0, 0, 5, time.UTC)),
		Node:      "node-a",
		Container: &vigilv1.Container{Id: "c1", Image: "nginx:1.27", ImageDigest: "sha256:aaa", Pod: "web-0", Namespace: "shop"},
		Process:   &vigilv1.Process{Pid: 7, Path: "/usr/bin/curl", Argv: []string{"curl", "evil.example"}, Uid: 0},
		Ancestry:  []*vigilv1.Process{{Pid: 1, Path: "/bin/sh"}},
		Kind:      vigilv1.Kind_KIND_CONNECT,
		Object:    &vigilv1.Object{Address: "2001:db8::1", Port: 443, Protocol: "tcp"},
		Rule:      "connect-not-in-profile",
		Action:    vigilv1.Action_ACTION_BLOCKED,
		Count:     1,
	}
}

func newWebhook(t *testing.T, o WebhookOptions) *Webhook {
	t.Helper()
	w, err := NewWebhook(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func closeQueue(t *testing.T, q *Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Error(err)
	}
}

func TestWebhookSendsFalcoJSON(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	q, err := NewQueue("webhook", newWebhook(t, WebhookOptions{URL: srv.URL}), QueueOptions{}, reg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	q.Enqueue(testAlert("a1"))
	closeQueue(t, q)

	if len(got) != 1 {
		t.Fatalf("webhook got %d events, want 1", len(got))
	}
	ev := got[0]
	for _, key := range []string{"output", "priority", "rule", "time", "output_fields", "hostname", "tags"} {
		if _, ok := ev[key]; !ok {
			t.Errorf("falco event lacks %q: %v", key, ev)
		}
	}
	if ev["priority"] != "Critical" || ev["rule"] != "connect-not-in-profile" || ev["hostname"] != "node-a" ||
		ev["time"] != "2026-05-01T12:00:00.000000005Z" {
		t.Errorf("unexpected event %v", ev)
	}
	fields := ev["output_fields"].(map[string]any)
	if fields["vigil.object"] != "[2001:db8::1]:443" || fields["k8s.ns.name"] != "shop" || fields["proc.cmdline"] != "curl evil.example" {
		t.Errorf("unexpected output_fields %v", fields)
	}
	if n := testutil.ToFloat64(q.sent); n != 1 {
		t.Errorf("sent counter = %v", n)
	}
}

func TestWebhookFailureIsRetriedThenCounted(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	q, err := NewQueue("webhook", newWebhook(t, WebhookOptions{URL: srv.URL}), QueueOptions{Attempts: 3, Backoff: time.Millisecond}, prometheus.NewRegistry(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	q.Enqueue(testAlert("a1"))
	closeQueue(t, q)
	if calls != 3 {
		t.Errorf("webhook called %d times, want 3 attempts", calls)
	}
	if n := testutil.ToFloat64(q.dropped.WithLabelValues("failed")); n != 1 {
		t.Errorf("failed drops = %v, want 1", n)
	}
}

// blockingSink holds every write until released, like a hung endpoint.
type blockingSink struct{ release chan struct{} }

func (b *blockingSink) Write(ctx context.Context, _ *vigilv1.Alert) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}
func (b *blockingSink) Close() error { return nil }

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	b := &blockingSink{release: make(chan struct{})}
	q, err := NewQueue("stuck", b, QueueOptions{Size: 4}, prometheus.NewRegistry(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for i := range 100 {
		if q.Enqueue(testAlert(string(rune('a' + i%26)))) {
			accepted++
		}
	}
	// At most the queue plus the one alert the worker holds were accepted.
	if accepted > 5 || accepted < 4 {
		t.Errorf("accepted %d alerts into a queue of 4", accepted)
	}
	if n := testutil.ToFloat64(q.dropped.WithLabelValues("queue_full")); int(n) != 100-accepted {
		t.Errorf("queue_full drops = %v, want %d", n, 100-accepted)
	}
	close(b.release)
	closeQueue(t, q)
}

func TestJSONLinesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	j, err := NewJSONLines(path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQueue("jsonl", j, QueueOptions{}, prometheus.NewRegistry(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	want := []*vigilv1.Alert{testAlert("a1"), testAlert("a2")}
	for _, a := range want {
		q.Enqueue(a)
	}
	closeQueue(t, q)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	i := 0
	for ; sc.Scan(); i++ {
		var a vigilv1.Alert
		if err := protojson.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if !proto.Equal(&a, want[i]) {
			t.Fatalf("line %d = %v, want %v", i, &a, want[i])
		}
	}
	if i != 2 {
		t.Fatalf("file has %d lines, want 2", i)
	}
}

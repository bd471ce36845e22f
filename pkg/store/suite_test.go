package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// opener returns a new, empty store that is closed when the test ends.
type opener func(t *testing.T) Store

// runSuite runs the tests every backend must pass.
func runSuite(t *testing.T, open opener) {
	tests := map[string]func(*testing.T, Store){
		"PutAlertsIsIdempotent":      testPutAlertsIsIdempotent,
		"SameIDOnTwoNodes":           testSameIDOnTwoNodes,
		"AlertRoundTrip":             testAlertRoundTrip,
		"QueryFilters":               testQueryFilters,
		"QueryLimit":                 testQueryLimit,
		"ConcurrentOverlappingPuts":  testConcurrentOverlappingPuts,
		"NodeStatusUpsert":           testNodeStatusUpsert,
		"RetentionByAge":             testRetentionByAge,
		"RetentionBySize":            testRetentionBySize,
		"NodeStatusNeedsName":        testNodeStatusNeedsName,
		"EmptyQueryOnEmptyStore":     testEmptyQueryOnEmptyStore,
		"PutAlertsEmptyBatchIsNoop":  testPutAlertsEmptyBatch,
		"BatchWithDuplicateInsideIt": testBatchWithDuplicateInsideIt,
		"ProfileVersions":            testProfileVersions,
		"Drafts":                     testDrafts,
		"SinkCursors":                testSinkCursors,
		"AuditChain":                 testAuditChain,
		"AuditAppendOnly":            testAuditAppendOnly,
		"AuditConcurrentAppends":     testAuditConcurrentAppends,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func alert(node, id string, at time.Time) *vigilv1.Alert {
	return &vigilv1.Alert{
		Id:   id,
		Time: timestamppb.New(at),
		Node: node,
		Container: &vigilv1.Container{
			Id: "c1", Name: "web", Image: "nginx:1.27", ImageDigest: "sha256:aaa",
			Pod: "web-0", Namespace: "default", PodUid: "uid-1",
		},
		Process: &vigilv1.Process{Pid: 42, Path: "/bin/sh", Argv: []string{"sh", "-c", "id"}, Comm: "sh"},
		Kind:    vigilv1.Kind_KIND_EXEC,
		Object:  &vigilv1.Object{Path: "/bin/sh"},
		Action:  vigilv1.Action_ACTION_ALERTED,
		Count:   1,
	}
}

func put(t *testing.T, s Store, alerts ...*vigilv1.Alert) []bool {
	t.Helper()
	isNew, err := s.PutAlerts(testCtx(t), alerts)
	if err != nil {
		t.Fatalf("PutAlerts: %v", err)
	}
	return isNew
}

func query(t *testing.T, s Store, q Query) []*vigilv1.Alert {
	t.Helper()
	got, _, err := s.QueryAlerts(testCtx(t), q)
	if err != nil {
		t.Fatalf("QueryAlerts: %v", err)
	}
	return got
}

func count(bs []bool) (n int) {
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func testPutAlertsIsIdempotent(t *testing.T, s Store) {
	var first []*vigilv1.Alert
	for i := range 100 {
		first = append(first, alert("n1", fmt.Sprintf("a%03d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	if n := count(put(t, s, first...)); n != 100 {
		t.Fatalf("first put stored %d new alerts, want 100", n)
	}
	again := append([]*vigilv1.Alert{}, first...)
	for i := 100; i < 110; i++ {
		again = append(again, alert("n1", fmt.Sprintf("a%03d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	isNew := put(t, s, again...)
	for i, b := range isNew {
		if b != (i >= 100) {
			t.Fatalf("alert %d: isNew=%v, want %v", i, b, i >= 100)
		}
	}
	if got := query(t, s, Query{Limit: MaxLimit}); len(got) != 110 {
		t.Fatalf("stored %d alerts, want 110", len(got))
	}
}

func testSameIDOnTwoNodes(t *testing.T, s Store) {
	if n := count(put(t, s, alert("n1", "same", t0), alert("n2", "same", t0))); n != 2 {
		t.Fatalf("stored %d, want 2: ids are unique per node, so one node cannot mask another's alert", n)
	}
}

func testAlertRoundTrip(t *testing.T, s Store) {
	a := alert("n1", "rt", t0)
	a.Ancestry = []*vigilv1.Process{{Pid: 1, Path: "/usr/bin/containerd-shim"}}
	a.Labels = map[string]string{"k": "v"}
	a.FirstSeen, a.LastSeen = timestamppb.New(t0.Add(-time.Minute)), timestamppb.New(t0)
	put(t, s, a)
	got := query(t, s, Query{})
	if len(got) != 1 || !proto.Equal(got[0], a) {
		t.Fatalf("stored alert differs:\n got %v\nwant %v", got, a)
	}
}

func testQueryFilters(t *testing.T, s Store) {
	a := alert("n1", "a", t0)
	b := alert("n2", "b", t0.Add(time.Minute))
	b.Container.Namespace = "prod"
	b.Container.Image, b.Container.ImageDigest = "redis:7", "sha256:bbb"
	b.Kind = vigilv1.Kind_KIND_CONNECT
	c := alert("n2", "c", t0.Add(2*time.Minute))
	c.Kind = vigilv1.Kind_KIND_OPEN
	put(t, s, a, b, c)

	cases := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all newest first", Filter{}, []string{"c", "b", "a"}},
		{"node", Filter{Nodes: []string{"n2"}}, []string{"c", "b"}},
		{"namespace", Filter{Namespaces: []string{"prod"}}, []string{"b"}},
		{"image name", Filter{Images: []string{"nginx:1.27"}}, []string{"c", "a"}},
		{"image digest", Filter{Images: []string{"sha256:bbb"}}, []string{"b"}},
		{"kinds", Filter{Kinds: []vigilv1.Kind{vigilv1.Kind_KIND_OPEN, vigilv1.Kind_KIND_CONNECT}}, []string{"c", "b"}},
		{"since inclusive", Filter{Since: t0.Add(time.Minute)}, []string{"c", "b"}},
		{"until exclusive", Filter{Until: t0.Add(time.Minute)}, []string{"a"}},
		{"fields combine", Filter{Nodes: []string{"n2"}, Kinds: []vigilv1.Kind{vigilv1.Kind_KIND_EXEC}}, nil},
	}
	for _, tc := range cases {
		got := query(t, s, Query{Filter: tc.f})
		var ids []string
		for _, a := range got {
			ids = append(ids, a.GetId())
			if !tc.f.Matches(a) {
				t.Errorf("%s: store returned %s, which Filter.Matches rejects", tc.name, a.GetId())
			}
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, ids, tc.want)
		}
	}
}

func testQueryLimit(t *testing.T, s Store) {
	for i := range 5 {
		put(t, s, alert("n1", fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second)))
	}
	got, truncated, err := s.QueryAlerts(testCtx(t), Query{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !truncated || got[0].GetId() != "4" {
		t.Fatalf("got %d alerts (first %q), truncated=%v; want the 3 newest, truncated", len(got), got[0].GetId(), truncated)
	}
	if _, truncated, _ := s.QueryAlerts(testCtx(t), Query{Limit: 5}); truncated {
		t.Fatal("truncated with a limit that fits every alert")
	}
}

func testConcurrentOverlappingPuts(t *testing.T, s Store) {
	// Four writers deliver the same 500 alerts in batches, as agents
	// redelivering after a reconnect would: each must be stored once.
	const writers, alerts, batch = 4, 500, 25
	newCounts := make([]int, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for start := 0; start < alerts; start += batch {
				var b []*vigilv1.Alert
				for i := start; i < start+batch; i++ {
					b = append(b, alert("n1", fmt.Sprintf("id-%d", i), t0))
				}
				isNew, err := s.PutAlerts(context.Background(), b)
				if err != nil {
					errs <- err
					return
				}
				newCounts[w] += count(isNew)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, n := range newCounts {
		total += n
	}
	if total != alerts {
		t.Fatalf("writers saw %d new alerts in all, want %d", total, alerts)
	}
	if got := query(t, s, Query{Limit: MaxLimit}); len(got) != alerts {
		t.Fatalf("stored %d, want %d", len(got), alerts)
	}
}

func testNodeStatusUpsert(t *testing.T, s Store) {
	ctx := testCtx(t)
	st := &vigilv1.NodeStatus{
		Node: "n2", AgentVersion: "v1", Kernel: "6.18",
		Enforcement: []*vigilv1.HookEnforcement{{Hook: vigilv1.Kind_KIND_EXEC, Tier: vigilv1.Tier_TIER_SIGNAL, Reason: "lsm: EPERM"}},
		Counters:    map[string]uint64{"ringbuf_lost": 3},
		Received:    timestamppb.New(t0),
	}
	for _, s2 := range []*vigilv1.NodeStatus{st, {Node: "n1", Received: timestamppb.New(t0)}} {
		if err := s.PutNodeStatus(ctx, s2); err != nil {
			t.Fatal(err)
		}
	}
	newer := proto.Clone(st).(*vigilv1.NodeStatus)
	newer.AgentVersion, newer.Counters["ringbuf_lost"] = "v2", 5
	if err := s.PutNodeStatus(ctx, newer); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].GetNode() != "n1" || !proto.Equal(nodes[1], newer) {
		t.Fatalf("ListNodes = %v, want n1 and the newer n2", nodes)
	}
	if got, err := s.GetNodeStatus(ctx, "n2"); err != nil || !proto.Equal(got, newer) {
		t.Fatalf("GetNodeStatus(n2) = %v, %v; want the newer n2", got, err)
	}
	if _, err := s.GetNodeStatus(ctx, "n3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetNodeStatus of an unknown node: %v, want ErrNotFound", err)
	}
}

func testNodeStatusNeedsName(t *testing.T, s Store) {
	if err := s.PutNodeStatus(testCtx(t), &vigilv1.NodeStatus{}); err == nil {
		t.Fatal("status without a node name was accepted")
	}
}

func testRetentionByAge(t *testing.T, s Store) {
	// The cut-off falls a second before "new" was put and a second after
	// "old" was: only the short step from here to Prune's own clock reading
	// eats into the margin, never the time the two puts took on a busy
	// machine.
	put(t, s, alert("n1", "old", t0))
	time.Sleep(2 * time.Second)
	newPut := time.Now()
	put(t, s, alert("n1", "new", t0))
	n, err := s.Prune(testCtx(t), Retention{MaxAge: time.Since(newPut) + time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := query(t, s, Query{})
	if n != 1 || len(got) != 1 || got[0].GetId() != "new" {
		t.Fatalf("pruned %d, kept %v; want the older-received alert pruned", n, got)
	}
}

func testRetentionBySize(t *testing.T, s Store) {
	var all []*vigilv1.Alert
	for i := range 20 {
		all = append(all, alert("n1", fmt.Sprintf("s%02d", i), t0))
	}
	for _, a := range all {
		put(t, s, a) // one by one: retention keeps the most recently received
	}
	size := len(mustMarshal(t, all[0]))
	n, err := s.Prune(testCtx(t), Retention{MaxBytes: int64(5*size + size/2)})
	if err != nil {
		t.Fatal(err)
	}
	got := query(t, s, Query{Limit: MaxLimit})
	if n != 15 || len(got) != 5 {
		t.Fatalf("pruned %d, kept %d; want 15 pruned, 5 kept", n, len(got))
	}
	for _, a := range got {
		if a.GetId() < "s15" {
			t.Fatalf("kept %s: size retention must keep the newest", a.GetId())
		}
	}
	if n, err := s.Prune(testCtx(t), Retention{MaxBytes: int64(5*size + size/2)}); err != nil || n != 0 {
		t.Fatalf("second prune deleted %d (%v), want 0", n, err)
	}
}

func mustMarshal(t *testing.T, a *vigilv1.Alert) []byte {
	b, err := marshal.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testEmptyQueryOnEmptyStore(t *testing.T, s Store) {
	got, truncated, err := s.QueryAlerts(testCtx(t), Query{Filter: Filter{Nodes: []string{"x"}}})
	if err != nil || len(got) != 0 || truncated {
		t.Fatalf("got %v %v %v on an empty store", got, truncated, err)
	}
	if n, err := s.Prune(testCtx(t), Retention{MaxAge: time.Hour, MaxBytes: 1}); err != nil || n != 0 {
		t.Fatalf("prune of an empty store: %d %v", n, err)
	}
}

func testPutAlertsEmptyBatch(t *testing.T, s Store) {
	isNew, err := s.PutAlerts(testCtx(t), nil)
	if err != nil || len(isNew) != 0 {
		t.Fatalf("empty batch: %v %v", isNew, err)
	}
}

func testBatchWithDuplicateInsideIt(t *testing.T, s Store) {
	isNew := put(t, s, alert("n1", "d", t0), alert("n1", "d", t0))
	if !isNew[0] || isNew[1] {
		t.Fatalf("isNew = %v, want [true false]", isNew)
	}
}

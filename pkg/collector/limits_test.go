package collector

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/test/testutil"
)

// openWatches opens n profile watches and reports how many the collector
// serves (held open until ctx ends) and the codes of those it refused.
func openWatches(t *testing.T, ctx context.Context, agent vigilv1.AgentServiceClient, n int) (served int, refused map[codes.Code]int) {
	t.Helper()
	refused = map[codes.Code]int{}
	for range n {
		w, err := agent.WatchProfiles(ctx, &vigilv1.WatchProfilesRequest{})
		if err == nil {
			_, err = w.Recv() // the snapshot marker, or the refusal
		}
		if err == nil {
			served++
		} else {
			refused[status.Code(err)]++
		}
	}
	return served, refused
}

// procStatus reads a field of /proc/PID/status in kB.
func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// httpGet returns the status code and body of a GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape returns the value of a metric line (name with its labels) from a
// /metrics page.
func scrape(t *testing.T, page, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestOneIdentityCannotExhaustTheCollector: one node's certificate opens
// 5 000 streams against a collector process with its default limits. It
// holds 16; the rest are refused and counted; another node is still served
// and the collector stays ready and small.
func TestOneIdentityCannotExhaustTheCollector(t *testing.T) {
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1"}, Nodes: []string{"node-a"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ca := loadAuthorityForClients(t, certs)
	addr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	t.Setenv("CHILD_HTTP_LISTEN", httpAddr)
	p := startCollectorProcess(t, certs, addr, filepath.Join(t.TempDir(), "collector.db"))
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	pid := p.cmd.Process.Pid
	_, page := httpGet(t, "http://"+httpAddr+"/metrics")
	rssBefore, goBefore := procStatusKB(t, pid, "VmRSS"), scrape(t, page, "go_goroutines")

	ctx, cancel := context.WithCancel(testCtx(t, 2*time.Minute))
	defer cancel()
	nodeA := vigilv1.NewAgentServiceClient(dial(t, addr, clientTLS(t, ca, pki.Request{CommonName: "node-a", Role: pki.RoleAgent})))
	const attempts = 5000
	served, refused := openWatches(t, ctx, nodeA, attempts)
	_, page = httpGet(t, "http://"+httpAddr+"/metrics")
	rssAfter, goAfter := procStatusKB(t, pid, "VmRSS"), scrape(t, page, "go_goroutines")
	t.Logf("one certificate, %d stream opens: %d served, refused %v (streams %v, rate %v); collector RSS %d -> %d kB, goroutines %v -> %v",
		attempts, served, refused, scrape(t, page, `vigil_collector_calls_refused_total{reason="streams"}`),
		scrape(t, page, `vigil_collector_calls_refused_total{reason="rate"}`), rssBefore, rssAfter, goBefore, goAfter)
	if served != 16 || refused[codes.ResourceExhausted] != attempts-16 {
		t.Fatalf("one identity: %d streams served, refused %v; want 16 served, the rest RESOURCE_EXHAUSTED", served, refused)
	}
	if n := scrape(t, page, `vigil_collector_calls_refused_total{reason="streams"}`) + scrape(t, page, `vigil_collector_calls_refused_total{reason="rate"}`); n != attempts-16 {
		t.Errorf("refusals counted %v, want %d", n, attempts-16)
	}
	if goAfter > goBefore+200 {
		t.Errorf("goroutines %v -> %v for 16 streams", goBefore, goAfter)
	}
	// Another node is served, and the collector, not at capacity, is ready.
	nodeB := vigilv1.NewAgentServiceClient(dial(t, addr, clientTLS(t, ca, pki.Request{CommonName: "node-b", Role: pki.RoleAgent})))
	if served, refused := openWatches(t, ctx, nodeB, 2); served != 2 {
		t.Errorf("another node: %d of 2 streams served, refused %v", served, refused)
	}
	if code, body := httpGet(t, "http://"+httpAddr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d %q with one identity at its limit", code, body)
	}
}

// TestLimitsAndReadiness runs the limits small: the collector's capacity,
// one identity's connections, calls and alerts.
func TestLimitsAndReadiness(t *testing.T) {
	e := startEnv(t, func(o *Options) {
		o.Limits = Limits{Streams: 20, StreamsPerIdentity: 16, ConnectionsPerIdentity: 2, CallsPerSecond: 5, AlertsPerSecond: 50}
		o.MaxBatchAlerts = 100
	})
	ctx := testCtx(t, 60*time.Second)

	// Capacity: 16 + 4 streams fill it; the collector says it is not ready
	// and refuses more with UNAVAILABLE, until enough streams end.
	ctxA, cancelA := context.WithCancel(ctx)
	if served, _ := openWatches(t, ctxA, e.agent(t, "node-a"), 16); served != 16 {
		t.Fatalf("node-a: %d of 16 served", served)
	}
	nodeB := e.agent(t, "node-b")
	if served, refused := openWatches(t, ctx, nodeB, 5); served != 4 || refused[codes.Unavailable] != 1 {
		t.Fatalf("node-b at capacity: %d served, refused %v; want 4, 1 UNAVAILABLE", served, refused)
	}
	if err := e.c.Ready(ctx); err == nil || !strings.Contains(err.Error(), "overloaded") {
		t.Fatalf("Ready at capacity: %v", err)
	}
	cancelA()
	waitFor(t, func() bool { return e.c.Ready(ctx) == nil })
	if n := metric(t, e.reg, "vigil_collector_calls_refused_total", "reason", "capacity"); n != 1 {
		t.Errorf("capacity refusals %v, want 1", n)
	}

	// Connections: a third connection of one identity is closed.
	var codesSeen []codes.Code
	for range 3 {
		_, err := e.agent(t, "node-c").ReportStatus(ctx, &vigilv1.NodeStatus{Time: timestamppb.Now()})
		codesSeen = append(codesSeen, status.Code(err))
	}
	if codesSeen[0] != codes.OK || codesSeen[1] != codes.OK || codesSeen[2] != codes.Unavailable {
		t.Errorf("three connections of one identity: %v, want OK, OK, UNAVAILABLE", codesSeen)
	}
	if n := metric(t, e.reg, "vigil_collector_calls_refused_total", "reason", "connections"); n < 1 {
		t.Errorf("connection refusals %v", n)
	}

	// Calls: 5 a second in bursts of 50.
	nodeD := e.agent(t, "node-d")
	ok := 0
	burst := time.Now()
	for range 80 {
		_, err := nodeD.ReportStatus(ctx, &vigilv1.NodeStatus{Time: timestamppb.Now()})
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.ResourceExhausted:
		default:
			t.Fatal(err)
		}
	}
	// The bucket refills at 5 a second while the burst is sent: a slow
	// machine (the race detector on a busy CI host) is served that many
	// more, and no more.
	refilled := int(5*time.Since(burst).Seconds()) + 1
	if ok < 50 || ok > 50+refilled {
		t.Errorf("%d of 80 calls in a burst served, want the burst of 50 and at most %d refilled", ok, refilled)
	}

	// Alerts: 50 a second, bursts of 500: the sixth batch of 100 waits 2 s.
	stream, err := e.agent(t, "node-e").StreamAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 6 {
		if err := stream.Send(batchOf(uint64(i), i*100, 100)); err != nil {
			t.Fatal(err)
		}
		if ack, err := stream.Recv(); err != nil || len(ack.GetIds()) != 100 {
			t.Fatalf("batch %d: %v %v", i, ack, err)
		}
	}
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("600 alerts at 50 a second, bursts of 500, took %v", took)
	}
	if n := metric(t, e.reg, "vigil_collector_alerts_throttled_total"); n != 100 {
		t.Errorf("throttled alerts %v, want 100", n)
	}
}

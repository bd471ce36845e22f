package collector

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/ship"
	"github.com/vigil-dev/vigil/pkg/sink"
	"github.com/vigil-dev/vigil/pkg/store"
	"github.com/vigil-dev/vigil/test/testutil"
)

// replicaProcess is a collector replica in a child process of its own,
// sharing a PostgreSQL store, that a test can SIGKILL.
type replicaProcess struct {
	*collectorProcess
	addr, http string
}

func startReplicaProcess(t *testing.T, certs, dsn, addr string, env ...string) *replicaProcess {
	r := &replicaProcess{addr: addr, http: testutil.FreeAddr(t)}
	r.collectorProcess = startCollectorProcess(t, certs, addr, dsn, append(env, "CHILD_HTTP_LISTEN="+r.http)...)
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + r.http + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return r
}

// metric scrapes a series from the replica's /metrics (0 if absent or the
// replica does not answer).
func (r *replicaProcess) metric(t *testing.T, series string) float64 {
	resp, err := http.Get("http://" + r.http + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	return scrape(t, string(page), series)
}

// hookReceiver is a plain HTTP webhook receiver counting alerts by id.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]int
}

func startHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{got: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev sink.FalcoEvent
		if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got[ev.UUID]++
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) count() (distinct, dups int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.got {
		distinct++
		dups += n - 1
	}
	return distinct, dups
}

// followBatch is follow.Options' default batch: the most alerts a leader
// that dies can have sent without saving the cursor past them.
const followBatch = 100

// TestReplicasDeliverWebhookOnce runs three collector processes on one
// real PostgreSQL, each configured with the same webhook, and four agents'
// real shippers. The first replica starts alone, leads, and takes the
// streams of two agents given all three addresses; the other two start and
// take the streams of two agents given theirs, and a live tail (what vigilctl alerts tail runs) watches
// each of them. In the middle of 5 000 alerts the leader is SIGKILLed, with
// agent streams, batches and webhook deliveries in flight. Every alert must
// be stored once, seen once by each tail, and received by the webhook,
// which only the leader runs: at most one batch twice, at the failover.
func TestReplicasDeliverWebhookOnce(t *testing.T) {
	dsn := testutil.StartPostgres(t)
	const agents, perAgent = 4, 1250
	total := agents * perAgent
	certs := t.TempDir()
	var nodes []string
	for i := range agents {
		nodes = append(nodes, fmt.Sprintf("node-%d", i))
	}
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1"}, Nodes: nodes, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ca := loadAuthorityForClients(t, certs)
	hook := startHookReceiver(t)
	hookEnv := "CHILD_WEBHOOK_URL=" + hook.srv.URL
	// Each tail must see every alert, however far a loaded machine lets it
	// fall behind: a queue that holds them all.
	queueEnv := "CHILD_SUBSCRIBER_QUEUE=" + strconv.Itoa(total)
	addrs := []string{testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)}
	db, err := store.OpenPostgres(testCtx(t, time.Minute), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	leader := startReplicaProcess(t, certs, dsn, addrs[0], hookEnv, queueEnv)
	waitFor(t, func() bool { return leader.metric(t, "vigil_collector_leader") == 1 })
	// The webhook starts after the newest alert when it first runs: let it
	// run before any alert is stored.
	waitFor(t, func() bool {
		_, ok, err := db.SinkCursor(testCtx(t, 10*time.Second), "webhook")
		return ok || err != nil
	})
	shippers := make([]*ship.Shipper, agents)
	shipRegs := make([]*prometheus.Registry, agents)
	startShipper := func(i int, targets []string) {
		shipRegs[i] = prometheus.NewRegistry()
		s, err := ship.New(ship.Options{
			Dir: t.TempDir(), Target: strings.Join(targets, ","), TLS: clientTLS(t, ca, pki.Request{CommonName: nodes[i], Role: pki.RoleAgent}),
			BatchSize: 50, MaxInflight: 200, MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second,
			Logger: zaptest.NewLogger(t), Registerer: shipRegs[i],
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(testCtx(t, 10*time.Second)) })
		shippers[i] = s
	}
	// Only the leader listens yet: the first two agents, given all three
	// addresses, connect to it.
	startShipper(0, addrs)
	startShipper(1, addrs)
	waitFor(t, func() bool { return leader.metric(t, "vigil_collector_agent_streams") == 2 })
	survivors := []*replicaProcess{startReplicaProcess(t, certs, dsn, addrs[1], hookEnv, queueEnv),
		startReplicaProcess(t, certs, dsn, addrs[2], hookEnv, queueEnv)}
	// The other two are given the other two replicas.
	startShipper(2, addrs[1:])
	startShipper(3, addrs[1:])
	streams := func(rs ...*replicaProcess) (n float64) {
		for _, r := range rs {
			n += r.metric(t, "vigil_collector_agent_streams")
		}
		return n
	}
	waitFor(t, func() bool { return streams(append(survivors, leader)...) == agents })
	leaderStreams := leader.metric(t, "vigil_collector_agent_streams")
	var tails []*tail
	for _, r := range survivors {
		tails = append(tails, startTail(t, (&env{ca: ca, addr: r.addr}).consumer(t)))
		waitFor(t, func() bool { return r.metric(t, "vigil_collector_subscribers") == 1 })
		if r.metric(t, "vigil_collector_leader") != 0 || r.metric(t, `vigil_sink_active{sink="webhook"}`) != 0 {
			t.Fatal("a second replica leads, or runs the webhook")
		}
	}

	began := time.Now()
	var wg sync.WaitGroup
	for i, s := range shippers {
		wg.Go(func() {
			for j := range perAgent {
				for s.Enqueue(testAlert(fmt.Sprintf("alert-%d-%05d", i, j))) != nil {
					time.Sleep(time.Millisecond) // queue full: the test must not lose alerts itself
				}
				if j%10 == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	// SIGKILL the leader once the webhook received about 30%.
	waitFor(t, func() bool { d, _ := hook.count(); return d >= total*3/10 })
	hookAtKill, _ := hook.count()
	_, storedAtKill, err := db.AlertSeqRange(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	leader.kill()
	waitFor(t, func() bool { return streams(survivors...) == agents })
	agentsMoved := time.Since(killed)
	var next *replicaProcess
	waitFor(t, func() bool {
		next = nil
		for _, r := range survivors {
			if r.metric(t, "vigil_collector_leader") == 1 {
				next = r
			}
		}
		return next != nil
	})
	tookOver := time.Since(killed)
	wg.Wait()
	for _, s := range shippers {
		if err := s.WaitDelivered(testCtx(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 { // the agents the leader held saw it die
		if n := metric(t, shipRegs[i], "vigil_ship_stream_errors_total"); n < 1 {
			t.Fatalf("agent %d never noticed the leader die", i)
		}
	}

	stored := map[string]bool{}
	for _, sa := range mustAlertsAfter(t, db, 0, total+1) {
		stored[alertKey(sa.Alert)] = true
	}
	if len(stored) != total {
		t.Fatalf("store holds %d distinct alerts, want %d", len(stored), total)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		distinct, dups := hook.count()
		if dups > followBatch {
			t.Fatalf("webhook received %d alerts twice, more than one batch (%d)", dups, followBatch)
		}
		if distinct == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook received %d distinct alerts, want %d", distinct, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	hookDone := time.Since(began)
	waitTails(t, tails, total, deadline)
	time.Sleep(time.Second) // a late duplicate, or the other survivor's delivery, would come now
	distinct, dups := hook.count()
	if distinct != total || dups > followBatch {
		t.Fatalf("webhook: %d distinct, %d twice", distinct, dups)
	}
	for i, tl := range tails {
		if d, twice, dropped := tl.count(); d != total || twice != 0 || dropped != 0 {
			t.Fatalf("tail %d: %d distinct, %d twice, %d dropped", i, d, twice, dropped)
		}
	}
	for _, r := range survivors {
		if r != next && r.metric(t, `vigil_sink_sent_total{sink="webhook"}`) != 0 {
			t.Fatal("a replica that does not lead delivered to the webhook")
		}
	}
	t.Logf("%d alerts from %d agents through 3 collector processes; the leader (holding %v agent streams) SIGKILLed at stored sequence %d with %d received by the webhook; "+
		"agents moved in %v, a new leader in %v; stored %d once, each of %d tails saw %d once; the webhook received %d, %d of them twice, all %v after the first was sent",
		total, agents, leaderStreams, storedAtKill, hookAtKill, agentsMoved.Round(time.Millisecond), tookOver.Round(time.Millisecond),
		len(stored), len(tails), total, distinct, dups, hookDone.Round(time.Millisecond))
}

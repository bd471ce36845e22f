package collector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/audit"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/ship"
	"github.com/vigil-dev/vigil/pkg/sink"
	"github.com/vigil-dev/vigil/pkg/store"
	"github.com/vigil-dev/vigil/test/testutil"
)

// replica is one of several collectors sharing a PostgreSQL store.
type replica struct {
	*env
	killed bool
}

// startReplicas starts n collectors on loopback, each with its own
// connections to the PostgreSQL database at dsn.
func startReplicas(t *testing.T, ca *pki.Authority, dsn string, n int, tweak func(*Options)) []*replica {
	out := make([]*replica, n)
	for i := range out {
		st, err := store.OpenPostgres(testCtx(t, time.Minute), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = &replica{env: serveEnv(t, ca, "127.0.0.1:0", st, tweak)}
	}
	return out
}

// kill stops a replica at once, with no grace for the calls in flight, and
// closes its store connections (the leadership lock's among them), as the
// death of its process would.
func (r *replica) kill() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.c.Stop(ctx)
	r.store.Close()
	r.killed = true
}

func addrs(rs []*replica) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.addr)
	}
	return strings.Join(out, ",")
}

// tail counts what a live tail receives, by node and alert id.
type tail struct {
	mu      sync.Mutex
	seen    map[string]int
	dropped uint64
}

// startTail watches alerts as vigilctl alerts tail does, until the test
// ends.
func startTail(t *testing.T, consumer vigilv1.ConsumerServiceClient) *tail {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := consumer.WatchAlerts(ctx, &vigilv1.WatchAlertsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	tl := &tail{seen: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			tl.mu.Lock()
			if a := ev.GetAlert(); a != nil {
				tl.seen[alertKey(a)]++
			}
			tl.dropped += ev.GetDropped().GetCount()
			tl.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return tl
}

func (tl *tail) count() (distinct int, dups int, dropped uint64) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, n := range tl.seen {
		distinct++
		dups += n - 1
	}
	return distinct, dups, tl.dropped
}

// waitTails waits until every tail has seen total distinct alerts, failing
// the test at the first one seen twice or dropped, or at the deadline.
func waitTails(t *testing.T, tails []*tail, total int, deadline time.Time) {
	t.Helper()
	for i, tl := range tails {
		for {
			distinct, dups, dropped := tl.count()
			if dups > 0 || dropped > 0 {
				t.Fatalf("tail %d: %d alerts seen twice, %d dropped", i, dups, dropped)
			}
			if distinct == total {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tail %d saw %d alerts, want %d", i, distinct, total)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func sumMetric(t *testing.T, rs []*replica, name string) float64 {
	var sum float64
	for _, r := range rs {
		if !r.killed {
			sum += metric(t, r.reg, name)
		}
	}
	return sum
}

// TestReplicasSurviveLosingOne runs three collectors on one real PostgreSQL,
// agents' real shippers given all three addresses, and a live tail on each
// replica that survives; it kills the replica holding the most agent
// streams in the middle of 5 000 alerts. Every alert must be stored once
// and seen once by each tail.
func TestReplicasSurviveLosingOne(t *testing.T) {
	dsn := testutil.StartPostgres(t)
	ca := newAuthority(t)
	const agents, perAgent = 4, 1250
	total := agents * perAgent
	// Each tail must see every alert, however far a loaded machine lets it
	// fall behind: a queue that holds them all (a slow subscriber's drops
	// are TestSlowSubscriberDoesNotStallIngest's).
	rs := startReplicas(t, ca, dsn, 3, func(o *Options) { o.SubscriberQueue = total })

	shippers := make([]*ship.Shipper, agents)
	for i := range shippers {
		s, err := ship.New(ship.Options{
			Dir: t.TempDir(), Target: addrs(rs), TLS: clientTLS(t, ca, pki.Request{CommonName: fmt.Sprintf("node-%d", i), Role: pki.RoleAgent}),
			BatchSize: 50, MaxInflight: 200, MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second,
			Logger: zaptest.NewLogger(t), Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(testCtx(t, 10*time.Second)) })
		shippers[i] = s
	}
	waitFor(t, func() bool { return sumMetric(t, rs, "vigil_collector_agent_streams") == agents })
	victim := rs[0]
	for _, r := range rs[1:] {
		if metric(t, r.reg, "vigil_collector_agent_streams") > metric(t, victim.reg, "vigil_collector_agent_streams") {
			victim = r
		}
	}
	victimStreams := metric(t, victim.reg, "vigil_collector_agent_streams")
	var survivors []*replica
	var tails []*tail
	for _, r := range rs {
		if r != victim {
			survivors = append(survivors, r)
			tails = append(tails, startTail(t, r.consumer(t)))
		}
	}
	waitFor(t, func() bool { return sumMetric(t, survivors, "vigil_collector_subscribers") == float64(len(tails)) })

	var wg sync.WaitGroup
	for i, s := range shippers {
		wg.Go(func() {
			for j := range perAgent {
				a := testAlert(fmt.Sprintf("alert-%d-%05d", i, j))
				for s.Enqueue(a) != nil {
					time.Sleep(time.Millisecond) // queue full: the test must not lose alerts itself
				}
				if j%10 == 0 {
					time.Sleep(2 * time.Millisecond)
				}
			}
		})
	}
	// Kill the victim once about 40% are stored.
	waitFor(t, func() bool { return sumMetric(t, rs, "vigil_collector_alerts_stored_total") >= float64(total)*2/5 })
	storedByVictim := metric(t, victim.reg, "vigil_collector_alerts_stored_total")
	killed := time.Now()
	victim.kill()
	waitFor(t, func() bool { return sumMetric(t, survivors, "vigil_collector_agent_streams") == agents })
	failover := time.Since(killed)
	// Cut the survivors' notification listeners too: notifications sent
	// until they listen again are lost, and the tails must catch up.
	cut := terminateListeners(t, dsn, "vigil_alerts")
	if cut < len(survivors) {
		t.Fatalf("cut %d alert listeners, want %d", cut, len(survivors))
	}
	wg.Wait()
	for _, s := range shippers {
		if err := s.WaitDelivered(testCtx(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	delivered := time.Since(killed)

	db := survivors[0].store
	seqs := map[string]bool{}
	for _, sa := range mustAlertsAfter(t, db, 0, total+1) {
		seqs[alertKey(sa.Alert)] = true
	}
	if len(seqs) != total {
		t.Fatalf("store holds %d distinct alerts, want %d", len(seqs), total)
	}
	for i := range agents {
		for j := range perAgent {
			if key := fmt.Sprintf("node-%d\x00alert-%d-%05d", i, i, j); !seqs[key] {
				t.Fatalf("alert %q lost", key)
			}
		}
	}
	waitTails(t, tails, total, time.Now().Add(30*time.Second))
	time.Sleep(200 * time.Millisecond) // a duplicate would come now
	for i, tl := range tails {
		if distinct, dups, dropped := tl.count(); distinct != total || dups != 0 || dropped != 0 {
			t.Fatalf("tail %d: %d distinct, %d twice, %d dropped", i, distinct, dups, dropped)
		}
	}
	if n := sumMetric(t, survivors, "vigil_collector_replica_sync_errors_total"); n < float64(len(survivors)) {
		t.Fatalf("%v lost listeners counted, want %d", n, len(survivors))
	}
	t.Logf("%d alerts sent by %d agents; %d stored once (the victim, holding %v agent streams, stored %v before it was killed); "+
		"%v redelivered alerts recognised as duplicates; each of %d tails saw %d once, their listeners cut once; "+
		"agents failed over in %v, all delivered %v after the kill",
		total, agents, len(seqs), victimStreams, storedByVictim, sumMetric(t, survivors, "vigil_collector_alerts_duplicate_total"),
		len(tails), total, failover.Round(time.Millisecond), delivered.Round(time.Millisecond))
}

// terminateListeners ends the server sessions listening on channel and
// returns how many it ended.
func terminateListeners(t *testing.T, dsn, channel string) int {
	ctx := testCtx(t, 10*time.Second)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query = 'LISTEN ' || $1 AND pid <> pg_backend_pid()) ended`, channel).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustAlertsAfter(t *testing.T, s store.Store, seq int64, limit int) []store.SeqAlert {
	t.Helper()
	out, err := s.AlertsAfter(testCtx(t, 30*time.Second), seq, limit)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplicasRetainOnTheLeaderOnly checks that one replica of three
// applies retention, and that another takes over when it dies.
func TestReplicasRetainOnTheLeaderOnly(t *testing.T) {
	dsn := testutil.StartPostgres(t)
	rs := startReplicas(t, newAuthority(t), dsn, 3, func(o *Options) {
		o.Retention, o.PruneEvery, o.LeaderCheck = store.Retention{MaxAge: time.Hour}, 20*time.Millisecond, 100*time.Millisecond
	})
	leader := func() *replica {
		t.Helper()
		var found *replica
		waitFor(t, func() bool {
			found = nil
			n := 0
			for _, r := range rs {
				if !r.killed && metric(t, r.reg, "vigil_collector_leader") == 1 {
					found, n = r, n+1
				}
			}
			return n == 1
		})
		return found
	}
	first := leader()
	waitFor(t, func() bool { return metric(t, first.reg, "vigil_collector_retention_runs_total") >= 10 })
	for _, r := range rs {
		if r != first && metric(t, r.reg, "vigil_collector_retention_runs_total") != 0 {
			t.Fatal("a replica that does not lead applied retention")
		}
	}
	killed := time.Now()
	first.kill()
	next := leader()
	takeover := time.Since(killed)
	before := metric(t, next.reg, "vigil_collector_retention_runs_total")
	waitFor(t, func() bool { return metric(t, next.reg, "vigil_collector_retention_runs_total") >= before+10 })
	for _, r := range rs {
		if r != first && r != next && metric(t, r.reg, "vigil_collector_retention_runs_total") != 0 {
			t.Fatal("a replica that does not lead applied retention")
		}
	}
	t.Logf("a new leader took over %v after the leader died (leader check every 100ms)", takeover.Round(time.Millisecond))
}

// TestReplicasPushProfilesToEveryAgent checks that a profile version made
// on one replica reaches an agent watching on another, also when the
// notification was lost with the listener's connection.
func TestReplicasPushProfilesToEveryAgent(t *testing.T) {
	dsn := testutil.StartPostgres(t)
	rs := startReplicas(t, newAuthority(t), dsn, 2, nil)
	ctx := testCtx(t, time.Minute)
	watch, err := rs[1].agent(t, "node-a").WatchProfiles(ctx, &vigilv1.WatchProfilesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := watch.Recv(); err != nil || !u.GetSnapshotComplete() {
		t.Fatalf("empty snapshot: %v %v", u, err)
	}
	ops := rs[0].consumer(t)
	imported, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: learned(t, "node-a", "/usr/sbin/nginx"), Mode: vigilv1.ProfileMode_PROFILE_MODE_MONITOR})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := watch.Recv(); err != nil || u.GetProfile().GetVersion() != imported.GetProfile().GetVersion() {
		t.Fatalf("the agent on the other replica got %v %v, want version %d", u, err, imported.GetProfile().GetVersion())
	}
	if n := terminateListeners(t, dsn, "vigil_profiles"); n != len(rs) {
		t.Fatalf("cut %d profile listeners, want %d", n, len(rs))
	}
	enforce := vigilv1.ProfileMode_PROFILE_MODE_ENFORCE
	promoted, err := ops.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: testDigest, Mode: enforce, ExpectVersion: imported.GetProfile().GetVersion()})
	if err != nil {
		t.Fatal(err)
	}
	u, err := watch.Recv()
	if err != nil || u.GetProfile().GetVersion() != promoted.GetProfile().GetVersion() || u.GetProfile().GetMode() != enforce {
		t.Fatalf("after the listeners were cut the agent got %v %v, want version %d in enforce", u, err, promoted.GetProfile().GetVersion())
	}
}

// TestReplicasMergeEveryNodesDraft has 12 nodes send drafts of one image
// digest at the same moment, through three replicas on one real PostgreSQL,
// in five rounds that each add one entry per node. Each merge reads every
// node's draft and builds on the latest version, so merges on different
// replicas must take turns or one builds on drafts that miss another's:
// after each round the latest version must hold every node's entries, and
// each draft must have made a version of its own.
func TestReplicasMergeEveryNodesDraft(t *testing.T) {
	dsn := testutil.StartPostgres(t)
	rs := startReplicas(t, newAuthority(t), dsn, 3, func(o *Options) { o.DraftMinNodes = 1 })
	const nodes, rounds = 12, 5
	ctx := testCtx(t, 2*time.Minute)
	agents := make([]vigilv1.AgentServiceClient, nodes)
	for i := range agents {
		agents[i] = rs[i%len(rs)].agent(t, fmt.Sprintf("node-%02d", i))
		reportRunning(t, agents[i], testDigest)
	}
	var took time.Duration
	var latest *vigilv1.Profile
	for round := range rounds {
		start := make(chan struct{})
		errs := make(chan error, nodes)
		var wg sync.WaitGroup
		for i, a := range agents {
			node := fmt.Sprintf("node-%02d", i)
			var paths []string
			for r := range round + 1 {
				paths = append(paths, fmt.Sprintf("/usr/bin/%s-%d", node, r))
			}
			doc := learned(t, node, paths...)
			wg.Go(func() {
				<-start
				_, err := a.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{ImageDigest: testDigest, Yaml: doc})
				errs <- err
			})
		}
		began := time.Now()
		close(start)
		wg.Wait()
		took += time.Since(began)
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: submit draft: %v", round, err)
			}
		}
		var err error
		latest, err = rs[0].store.GetProfile(ctx, testDigest, 0)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := profile.Decode("latest", latest.GetYaml())
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for i := range nodes {
			for r := range round + 1 {
				path := fmt.Sprintf("/usr/bin/node-%02d-%d", i, r)
				if !slices.ContainsFunc(doc.Spec.Executables, func(e profile.ExecEntry) bool { return e.Path == path }) {
					missing = append(missing, path)
				}
			}
		}
		if len(missing) > 0 {
			t.Fatalf("round %d: version %d (of nodes %v) lacks %d of %d entries: %v",
				round, latest.GetVersion(), latest.GetNodes(), len(missing), nodes*(round+1), missing)
		}
		// Each draft adds an entry: merged in turn, each makes a version.
		// Fewer versions mean two merges overlapped, which is how an
		// entry gets lost, even when this time none was.
		if want := int64(nodes * (round + 1)); latest.GetVersion() != want {
			t.Fatalf("round %d: latest version is %d, want %d: merges overlapped", round, latest.GetVersion(), want)
		}
	}
	t.Logf("%d rounds of %d nodes' drafts sent at once through %d replicas: version %d holds all %d entries; the rounds took %v",
		rounds, nodes, len(rs), latest.GetVersion(), nodes*rounds, took.Round(time.Millisecond))
}

// auditReceiver is an audit webhook receiver counting records by sequence
// number.
type auditReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[int64]int
}

func startAuditReceiver(t *testing.T) *auditReceiver {
	ar := &auditReceiver{got: map[int64]int{}}
	ar.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r, err := audit.UnmarshalJSON(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ar.mu.Lock()
		ar.got[r.GetSeq()]++
		ar.mu.Unlock()
	}))
	t.Cleanup(ar.srv.Close)
	return ar
}

// check compares what the receiver got with the records in st: missing
// records, and records received more than once.
func (ar *auditReceiver) check(t *testing.T, st store.Store) (missing, dups int) {
	recs, truncated, err := st.AuditRecords(testCtx(t, 10*time.Second), store.AuditQuery{Limit: store.MaxLimit})
	if err != nil || truncated {
		t.Fatalf("audit records: %v (truncated %v)", err, truncated)
	}
	ar.mu.Lock()
	defer ar.mu.Unlock()
	for _, r := range recs {
		switch n := ar.got[r.GetSeq()]; {
		case n == 0:
			missing++
		case n > 1:
			dups += n - 1
		}
	}
	return missing, dups
}

// TestReplicasExportAuditOnce runs three replicas on one real PostgreSQL,
// each with the same audit webhook, and has operators import profiles
// through all three at once: the receiver must get every record of the
// trail once, only from the leader; after the leader dies, the next one
// resumes from the cursor.
func TestReplicasExportAuditOnce(t *testing.T) {
	dsn := testutil.StartPostgres(t)
	ar := startAuditReceiver(t)
	var exporters []*AuditExporter
	rs := startReplicas(t, newAuthority(t), dsn, 3, func(o *Options) {
		o.LeaderCheck = 100 * time.Millisecond
		w, err := sink.NewWebhook(sink.WebhookOptions{URL: ar.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewAuditExporter("webhook", auditWebhook{w: w}, o.Store, o.Registerer, o.Logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		exporters = append(exporters, e)
		o.AuditExporters = []*AuditExporter{e}
	})
	ctx := testCtx(t, 2*time.Minute)
	imports := func(rs []*replica, round, each int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, len(rs)*each)
		for i, r := range rs {
			ops := r.consumer(t)
			wg.Go(func() {
				for j := range each {
					digest := fmt.Sprintf("sha256:%064x", round*1000+i*100+j)
					d, err := profile.NewDraft("app:1", digest, profile.Limits{})
					if err == nil {
						_, err = d.Observe(profile.Observation{Kind: profile.KindExec, Path: "/bin/app", ContainerID: "c", Node: "n", Time: t0})
					}
					var doc []byte
					if err == nil {
						doc, err = profile.Encode(d.Profile())
					}
					if err == nil {
						_, err = ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: doc, Mode: vigilv1.ProfileMode_PROFILE_MODE_MONITOR})
					}
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	leader := func() *replica {
		var found *replica
		waitFor(t, func() bool {
			found = nil
			for _, r := range rs {
				if !r.killed && metric(t, r.reg, "vigil_collector_leader") == 1 {
					found = r
				}
			}
			return found != nil
		})
		return found
	}
	first := leader()
	imports(rs, 0, 20)
	caughtUp := func(st store.Store) (dups int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			missing, dups := ar.check(t, st)
			if missing == 0 {
				return dups
			}
			if time.Now().After(deadline) {
				t.Fatalf("the receiver misses %d audit records", missing)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if dups := caughtUp(first.store); dups != 0 {
		t.Fatalf("%d audit records received twice with no failover", dups)
	}
	for i, r := range rs {
		if r != first && metric(t, r.reg, "vigil_audit_exported_total", "sink", "webhook") != 0 {
			t.Fatalf("replica %d, which does not lead, exported audit records", i)
		}
	}
	exportedFirst := metric(t, first.reg, "vigil_audit_exported_total", "sink", "webhook")
	first.kill()
	var survivors []*replica
	for _, r := range rs {
		if !r.killed {
			survivors = append(survivors, r)
		}
	}
	next := leader()
	imports(survivors, 1, 20)
	dups := caughtUp(next.store)
	if dups != 0 {
		// The old leader was stopped, not killed: it saved its cursor.
		t.Fatalf("%d audit records received twice after a stop", dups)
	}
	recs, _, err := next.store.AuditRecords(ctx, store.AuditQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyRecords(recs); err != nil {
		t.Fatalf("the audit chain: %v", err)
	}
	t.Logf("%d audit records (60 imports through 3 replicas, 40 through the 2 left, the certificates' first uses) exported once each: %v by the first leader, %v by the next",
		len(recs), exportedFirst, metric(t, next.reg, "vigil_audit_exported_total", "sink", "webhook"))
}

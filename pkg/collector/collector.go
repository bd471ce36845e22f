package collector

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/join"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sink"
	"github.com/vigil-dev/vigil/pkg/sink/follow"
	"github.com/vigil-dev/vigil/pkg/store"
)

// Log field keys.
const (
	logKeyNode    = "node"
	logKeyAlertID = "alert_id"
	logKeyPruned  = "pruned"
	logKeyAddress = "address"
	logKeyDigest  = "image_digest"
	logKeyVersion = "version"
)

// Options configure a Collector. TLS and Store are required.
type Options struct {
	// TLS must require and verify client certificates (pki.ServerTLS,
	// certwatch.ServerTLS), or verify them if given when Join is set.
	TLS *tls.Config
	// Join, when set, serves JoinService: the one API callers without a
	// client certificate may call (agents joining with a ServiceAccount
	// token). Every other call still needs a verified certificate.
	Join *join.Server
	// AnonymousConns caps the connections without a client certificate
	// (joining agents) open at once (default 256); each is closed after
	// AnonymousConnAge (default 30s), long enough for a join.
	AnonymousConns   int
	AnonymousConnAge time.Duration
	Store            store.Store
	// Sinks receive every newly stored alert.
	Sinks []*sink.Queue
	// Followers deliver from the store; AuditExporters deliver the audit
	// trail. The collector runs them while it leads (see Retention), so
	// replicas sharing a store deliver each alert and record once, and
	// wakes them when it stores alerts or appends a record (and, on a
	// shared store, when another replica stored alerts). The caller closes
	// them after Stop.
	Followers      []*follow.Follower
	AuditExporters []*AuditExporter
	// SubscriberQueue is each live subscriber's queue length (default 1024).
	SubscriberQueue int
	// MaxMessageBytes caps one gRPC message (default 4 MiB).
	MaxMessageBytes int
	// MaxBatchAlerts caps the alerts in one AlertBatch (default 1000).
	MaxBatchAlerts int
	// WriteBatch caps the alerts in one store transaction (default 4096).
	WriteBatch int
	// Retention is applied every PruneEvery (default 1 minute), by one
	// collector of those sharing a store (store.Leader): the leader, which
	// also runs the Followers and AuditExporters, and checks every
	// LeaderCheck (default 2s) that it still leads; the others try to take
	// over as often.
	Retention   store.Retention
	PruneEvery  time.Duration
	LeaderCheck time.Duration
	// MaxClockSkew is how far ahead of the collector's clock an alert's
	// time may be before the receive time replaces it (default 5 minutes).
	MaxClockSkew time.Duration
	// Limits bound what each identity, and all together, may take.
	Limits Limits
	// DraftMinNodes is how many nodes' drafts must allow an entry before it
	// is merged into an image's profile (default 2, however few nodes run
	// the image), so that one node cannot widen a profile alone; a cluster
	// of one node sets 1.
	DraftMinNodes int
	// Inherit says whether the first draft of a new digest that runs on a
	// profile inherited from another digest of its repository (the agents
	// inherit at once) makes that inherited profile the digest's version 1,
	// and in which mode; empty is off.
	Inherit profile.InheritPolicy
	// Readiness is the evidence a profile needs to be reported ready to
	// enforce (zero: profile.DefaultReadiness).
	Readiness profile.ReadinessPolicy
	// ProfileLimits bound merged profiles (zero: profile.DefaultLimits).
	ProfileLimits profile.Limits
	Logger        *zap.Logger
	// Registerer receives the collector's metrics (required).
	Registerer prometheus.Registerer
}

func (o *Options) setDefaults() error {
	switch {
	case o.TLS == nil:
		return errors.New("collector: no TLS configuration")
	case o.Join == nil && o.TLS.ClientAuth != tls.RequireAndVerifyClientCert:
		return errors.New("collector: TLS must require and verify client certificates")
	case o.Join != nil && o.TLS.ClientAuth != tls.VerifyClientCertIfGiven:
		return errors.New("collector: with joins, TLS must verify client certificates if given (joining agents have none)")
	}
	if o.Store == nil {
		return errors.New("collector: no store")
	}
	if o.Registerer == nil {
		return errors.New("collector: no metrics registerer")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	defaults := []struct {
		v   *int
		def int
	}{{&o.SubscriberQueue, 1024}, {&o.MaxMessageBytes, 4 << 20}, {&o.MaxBatchAlerts, 1000}, {&o.WriteBatch, 4096}}
	for _, d := range defaults {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = time.Minute
	}
	if o.LeaderCheck <= 0 {
		o.LeaderCheck = 2 * time.Second
	}
	if o.DraftMinNodes <= 0 {
		o.DraftMinNodes = 2
	}
	if o.Readiness == (profile.ReadinessPolicy{}) {
		o.Readiness = profile.DefaultReadiness
	}
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = 5 * time.Minute
	}
	if o.AnonymousConns <= 0 {
		o.AnonymousConns = 256
	}
	if o.AnonymousConnAge <= 0 {
		o.AnonymousConnAge = 30 * time.Second
	}
	return nil
}

// Collector serves the agent and consumer APIs.
type Collector struct {
	opts     Options
	log      *zap.Logger
	m        *metrics
	hub      *hub
	feed     *feed
	writer   *writer
	profiles *profiles
	limits   *limiter
	grpc     *grpc.Server
	ready    atomic.Bool
	stopping chan struct{}
	stopOnce sync.Once
	bg       sync.WaitGroup
	// certsSeen holds the fingerprints (and ends) of the client
	// certificates whose use is in the audit trail; certMu serialises
	// recording a new one and counts them in certsAdded.
	certsSeen  sync.Map
	certMu     sync.Mutex
	certsAdded int
	// policies holds, per node, the approved-images policy last recorded
	// in the audit trail; policyMu serialises recording a new one.
	policies sync.Map
	policyMu sync.Mutex
}

// New builds a collector; Serve starts it.
func New(o Options) (*Collector, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Collector{opts: o, log: o.Logger, m: m, stopping: make(chan struct{})}
	c.hub = newHub(m.subscriberDropped, m.subscribers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.feed, err = newFeed(ctx, o.Store, c.hub, c.log, m.syncErrors.Inc)
	if err != nil {
		return nil, fmt.Errorf("start the live tail: %w", err)
	}
	c.profiles = &profiles{c: c, limits: o.ProfileLimits, minNodes: o.DraftMinNodes, inherit: o.Inherit, readiness: o.Readiness, watches: make(map[*profileWatch]struct{})}
	c.writer = newWriter(o.Store, o.WriteBatch, m.writeBatch)
	c.limits = newLimiter(o.Limits, o.MaxBatchAlerts, m)
	c.limits.anonMax, c.limits.anonAge = o.AnonymousConns, o.AnonymousConnAge
	c.grpc = grpc.NewServer(
		grpc.Creds(limitedCreds{TransportCredentials: credentials.NewTLS(o.TLS), lm: c.limits}),
		// Streams of one connection at once: a bound on what one
		// connection can make the server start before the limits refuse it.
		grpc.MaxConcurrentStreams(uint32(4*c.limits.l.StreamsPerIdentity)),
		grpc.ChainUnaryInterceptor(c.unaryAuth),
		grpc.ChainStreamInterceptor(c.streamAuth),
		grpc.MaxRecvMsgSize(o.MaxMessageBytes),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WaitForHandlers(true),
	)
	vigilv1.RegisterAgentServiceServer(c.grpc, agentService{c: c})
	vigilv1.RegisterConsumerServiceServer(c.grpc, consumerService{c: c})
	if o.Join != nil {
		vigilv1.RegisterJoinServiceServer(c.grpc, o.Join)
	}
	c.bg.Go(func() { c.feed.run(c.stopping) })
	if n, ok := o.Store.(store.AlertNotifier); ok {
		c.bg.Go(func() {
			c.feed.listen(n, func(seq int64) {
				c.feed.wake(seq)
				c.wakeFollowers()
			}, c.stopping)
		})
	}
	if n, ok := o.Store.(store.ProfileNotifier); ok {
		c.bg.Go(func() {
			keepListening(c.stopping, c.log, m.syncErrors.Inc, "profile", func(ctx context.Context) error {
				return n.ListenProfiles(ctx, c.profiles.changed)
			})
		})
	}
	c.bg.Go(c.lead)
	return c, nil
}

// Serve accepts gRPC connections on l until Stop.
func (c *Collector) Serve(l net.Listener) error {
	c.ready.Store(true)
	c.log.Info("collector serving", zap.String(logKeyAddress, l.Addr().String()))
	err := c.grpc.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop ends the long-lived streams, lets unary calls and in-flight alert
// batches finish until ctx ends, then closes every connection. It does not
// close the store or the sinks, which the caller owns.
func (c *Collector) Stop(ctx context.Context) {
	c.stopOnce.Do(func() {
		c.ready.Store(false)
		close(c.stopping)
		stopped := make(chan struct{})
		go func() {
			c.grpc.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			c.grpc.Stop()
			<-stopped
		}
		c.writer.stop()
		c.bg.Wait()
	})
}

// Ready reports whether the collector serves, its store answers and it is
// not at its capacity (Limits.Streams): the /readyz check.
func (c *Collector) Ready(ctx context.Context) error {
	if !c.ready.Load() {
		return errors.New("not serving")
	}
	if err := c.opts.Store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return c.limits.ready()
}

// lead runs the chores of one collector among those sharing a store
// (retention, the sinks that deliver from the store) while this collector
// leads them; always, on a store no other collector shares. Losing the
// lead stops the chores; each sink saved its cursor after its last batch,
// and the next leader resumes from it.
func (c *Collector) lead() {
	chores := c.chores()
	if len(chores) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stopping
		cancel()
	}()
	l, shared := c.opts.Store.(store.Leader)
	if !shared {
		c.m.leader.Set(1)
		runChores(ctx, chores)
		return
	}
	for {
		held, release, err := l.Lead(ctx, store.RoleLeader, c.opts.LeaderCheck)
		if err != nil {
			return // stopping
		}
		c.m.leader.Set(1)
		c.log.Info("leading: this collector applies retention and runs the durable sinks")
		runChores(held, chores)
		release()
		c.m.leader.Set(0)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("lost the lead; waiting to lead again")
	}
}

// chores are what the leader runs, each until its context ends.
func (c *Collector) chores() []func(context.Context) {
	var out []func(context.Context)
	if c.opts.Retention != (store.Retention{}) {
		out = append(out, c.pruneLoop)
	}
	for _, f := range c.opts.Followers {
		out = append(out, f.Run)
	}
	for _, e := range c.opts.AuditExporters {
		out = append(out, e.Run)
	}
	return out
}

func runChores(ctx context.Context, chores []func(context.Context)) {
	var wg sync.WaitGroup
	for _, run := range chores {
		wg.Go(func() { run(ctx) })
	}
	wg.Wait()
}

// wakeFollowers tells the sinks that follow the store that alerts were
// stored. It never blocks.
func (c *Collector) wakeFollowers() {
	for _, f := range c.opts.Followers {
		f.Notify()
	}
}

func (c *Collector) pruneLoop(ctx context.Context) {
	t := time.NewTicker(c.opts.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.m.pruneRuns.Inc()
			pctx, cancel := context.WithTimeout(ctx, max(c.opts.PruneEvery, time.Minute))
			n, err := c.opts.Store.Prune(pctx, c.opts.Retention)
			cancel()
			// Count what was deleted even when a later step failed.
			c.m.pruned.Add(float64(n))
			if err != nil {
				c.log.Error("prune alerts", zap.Error(err))
			} else if n > 0 {
				c.log.Info("pruned alerts", zap.Int64(logKeyPruned, n))
			}
		case <-ctx.Done():
			return
		}
	}
}

package ship

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// Options configure a Shipper. Dir, Target, TLS and Registerer are required.
type Options struct {
	// Dir holds the spool; one shipper per directory.
	Dir string
	// Target is the collector's address (host:port), or the addresses of
	// its replicas separated by commas: the shipper connects to one and
	// fails over to another (collectorTarget).
	Target string
	// TLS carries the agent's client certificate (pki.ClientTLS).
	TLS *tls.Config
	// QueueSize is the memory queue in alerts (default 4096).
	QueueSize int
	// BatchSize is alerts per AlertBatch (default 256; the collector takes
	// at most 1000).
	BatchSize int
	// MaxInflight is alerts sent and not yet acknowledged (default 4096).
	MaxInflight int
	Spool       SpoolOptions
	// Reconnect backoff: doubles from MinBackoff to MaxBackoff, with jitter
	// (defaults 100ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *zap.Logger
	Registerer             prometheus.Registerer
	// DialOptions are added to the gRPC client's.
	DialOptions []grpc.DialOption
}

func (o *Options) setDefaults() error {
	switch {
	case o.Dir == "":
		return errors.New("shipper: no spool directory")
	case o.Target == "":
		return errors.New("shipper: no collector address")
	case o.TLS == nil || len(o.TLS.Certificates) == 0 && o.TLS.GetClientCertificate == nil:
		return errors.New("shipper: TLS with a client certificate is required")
	case o.Registerer == nil:
		return errors.New("shipper: no metrics registerer")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	for _, d := range []struct {
		v   *int
		def int
	}{{&o.QueueSize, 4096}, {&o.BatchSize, 256}, {&o.MaxInflight, 4096}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	return nil
}

// ErrQueueFull is returned by Enqueue when the memory queue is full; the
// alert is dropped and counted.
var ErrQueueFull = errors.New("shipper queue full")

// Shipper delivers alerts to the collector: Enqueue → memory queue → spool
// → gRPC stream, each alert removed from the spool once acknowledged.
type Shipper struct {
	opts    Options
	log     *zap.Logger
	m       *shipMetrics
	spool   *spool
	queue   chan []byte
	conn    *grpc.ClientConn
	client  vigilv1.AgentServiceClient
	closeMu sync.RWMutex
	closed  bool
	stopW   chan struct{}
	wDone   chan struct{}
	cancelS context.CancelFunc
	sDone   chan struct{}

	// spoolFailing: the last append failed (owned by writeLoop).
	spoolFailing bool
}

// New opens the spool (recovering what a previous run left) and starts
// delivering.
func New(o Options) (*Shipper, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	m, err := newShipMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(o.Dir, o.Spool, m)
	if err != nil {
		return nil, err
	}
	target, targetOpts := collectorTarget(o.Target)
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(o.TLS)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	}, append(targetOpts, o.DialOptions...)...)
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		sp.close()
		return nil, fmt.Errorf("collector client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Shipper{
		opts: o, log: o.Logger, m: m, spool: sp, queue: make(chan []byte, o.QueueSize),
		conn: conn, client: vigilv1.NewAgentServiceClient(conn),
		stopW: make(chan struct{}), wDone: make(chan struct{}), cancelS: cancel, sDone: make(chan struct{}),
	}
	go s.writeLoop()
	go s.sendLoop(ctx)
	return s, nil
}

// Conn is the shipper's connection to the collector, for the agent's other
// calls (status reports, drafts, profiles).
func (s *Shipper) Conn() *grpc.ClientConn { return s.conn }

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// Enqueue queues an alert without blocking. An alert without an id or too
// large to be accepted is refused with an error; when the queue is full the
// alert is dropped and ErrQueueFull returned. Both are counted.
func (s *Shipper) Enqueue(a *vigilv1.Alert) error {
	if a.GetId() == "" {
		s.m.dropped.WithLabelValues(dropInvalid).Inc()
		return errors.New("alert has no id")
	}
	payload, err := marshalOpts.Marshal(a)
	if err != nil {
		s.m.dropped.WithLabelValues(dropInvalid).Inc()
		return fmt.Errorf("encode alert %q: %w", a.GetId(), err)
	}
	if len(payload) > MaxRecordBytes {
		s.m.dropped.WithLabelValues(dropInvalid).Inc()
		return fmt.Errorf("alert %q is %d bytes, limit %d", a.GetId(), len(payload), MaxRecordBytes)
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		s.m.dropped.WithLabelValues(dropShutdown).Inc()
		return errors.New("shipper closed")
	}
	select {
	case s.queue <- payload:
		return nil
	default:
		s.m.dropped.WithLabelValues(dropQueueFull).Inc()
		return ErrQueueFull
	}
}

// writeLoop moves queued alerts into the spool, as many per append as are
// waiting.
func (s *Shipper) writeLoop() {
	defer close(s.wDone)
	var tick <-chan time.Time
	if s.opts.Spool.SyncEvery > 0 {
		t := time.NewTicker(s.opts.Spool.SyncEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case p := <-s.queue:
			s.appendBatch(p)
		case <-tick:
			if err := s.spool.sync(); err != nil {
				s.log.Error("sync spool", zap.Error(err))
			}
		case <-s.stopW:
			for {
				select {
				case p := <-s.queue:
					s.appendBatch(p)
				default:
					return
				}
			}
		}
	}
}

func (s *Shipper) appendBatch(first []byte) {
	batch := [][]byte{first}
fill:
	for len(batch) < 1024 {
		select {
		case p := <-s.queue:
			batch = append(batch, p)
		default:
			break fill
		}
	}
	_, err := s.spool.append(batch)
	// A full disk fails every append until space is freed: log when
	// appending starts failing and when it works again; every alert lost
	// meanwhile is counted in vigil_ship_dropped_total.
	switch {
	case err != nil && !s.spoolFailing:
		s.log.Error("append to spool; dropping alerts until it works again", zap.Error(err))
	case err == nil && s.spoolFailing:
		s.log.Info("appending to the spool works again")
	}
	s.spoolFailing = err != nil
}

// WaitDelivered waits until every alert enqueued so far is acknowledged (or
// dropped), or ctx ends.
func (s *Shipper) WaitDelivered(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for len(s.queue) > 0 || s.spool.pending() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for delivery: %d alerts pending: %w", uint64(len(s.queue))+s.spool.pending(), ctx.Err())
		}
	}
	return nil
}

// Close stops taking alerts, writes the queue to the spool, delivers what it
// can until ctx ends, and closes. Undelivered alerts stay in the spool for
// the next run.
func (s *Shipper) Close(ctx context.Context) error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	close(s.stopW)
	<-s.wDone
	if err := s.WaitDelivered(ctx); err != nil {
		s.log.Info("closing with undelivered alerts in the spool", zap.Error(err))
	}
	s.cancelS()
	<-s.sDone
	return errors.Join(s.spool.close(), s.conn.Close())
}

// Counters are the shipper's loss and delivery counters, for the node's
// status report (NodeStatus.counters).
func (s *Shipper) Counters() map[string]uint64 {
	out := map[string]uint64{
		"ship_delivered":     metricValue(s.m.delivered),
		"ship_spool_corrupt": metricValue(s.m.corrupt),
		"ship_spool_pending": s.spool.pending(),
	}
	for _, reason := range dropReasons {
		out["ship_dropped_"+reason] = metricValue(s.m.dropped.WithLabelValues(reason))
	}
	return out
}

func metricValue(m prometheus.Metric) uint64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return 0
	}
	if d.Counter != nil {
		return uint64(d.Counter.GetValue())
	}
	return uint64(d.Gauge.GetValue())
}

package agentcert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/certwatch"
)

// Options configure a Joiner. Target, TokenFile, CAFile and Registerer are
// required.
type Options struct {
	// Target is the collector's address, or its replicas' separated by
	// commas (any of them serves joins).
	Target string
	// TokenFile is the projected ServiceAccount token, read again for every
	// join (the kubelet rewrites it before it expires).
	TokenFile string
	// CAFile verifies the collector: a PEM bundle, read again every
	// CAReload (default 30s) so that a rotating CA (a Secret or ConfigMap
	// the kubelet updates) is followed.
	CAFile   string
	CAReload time.Duration
	// ServerName expected in the collector's certificate (default: each
	// address's host).
	ServerName string
	// Retry backoff while joins fail: doubles from MinBackoff to MaxBackoff
	// with jitter (defaults 1s and 1m).
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one join at one address (default 30s); an address
	// that refuses the connection fails at once.
	Timeout    time.Duration
	Logger     *zap.Logger
	Registerer prometheus.Registerer
}

// Joiner holds the agent's current certificate.
type Joiner struct {
	opts  Options
	log   *zap.Logger
	roots *certwatch.Watched[*x509.CertPool]
	cert  atomic.Pointer[tls.Certificate]
	ready chan struct{} // closed at the first certificate
	first atomic.Bool

	joins    *prometheus.CounterVec
	notAfter prometheus.Gauge
}

// New checks o; Run joins.
func New(o Options) (*Joiner, error) {
	switch {
	case o.Target == "":
		return nil, errors.New("join: no collector address")
	case o.TokenFile == "":
		return nil, errors.New("join: no token file")
	case o.CAFile == "":
		return nil, errors.New("join: no CA to verify the collector")
	case o.Registerer == nil:
		return nil, errors.New("join: no metrics registerer")
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.CAReload <= 0 {
		o.CAReload = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	roots, err := certwatch.New(certwatch.Pool, o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("collector CA: %w", err)
	}
	j := &Joiner{opts: o, log: o.Logger, roots: roots, ready: make(chan struct{}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_agent_joins_total", Help: "Joins (certificates for the ServiceAccount token) by result: ok, failed (retried with backoff).",
		}, []string{"result"}),
		notAfter: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_agent_certificate_not_after_seconds", Help: "End of the agent's current client certificate (Unix time); 0 before the first join.",
		}),
	}
	for _, c := range []prometheus.Collector{j.joins, j.notAfter} {
		if err := o.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register join metrics: %w", err)
		}
	}
	return j, nil
}

// TLS is the agent's client TLS configuration: the current certificate,
// the collector verified against Roots.
func (j *Joiner) TLS() *tls.Config {
	return certwatch.ClientTLS(j.certificate, j.roots.Current, j.opts.ServerName)
}

// certificate is the current certificate; before the first join it waits
// for it (as long as the handshake may).
func (j *Joiner) certificate(ctx context.Context) (*tls.Certificate, error) {
	select {
	case <-j.ready:
		return j.cert.Load(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no client certificate yet (the agent has not joined): %w", ctx.Err())
	}
}

// Current is the current certificate, nil before the first join.
func (j *Joiner) Current() *tls.Certificate { return j.cert.Load() }

// Run joins, then renews at two thirds of each certificate's life, until ctx
// ends; failed joins are retried with backoff.
func (j *Joiner) Run(ctx context.Context) {
	go j.roots.Run(ctx, j.opts.CAReload, func(err error) {
		if err != nil {
			j.log.Warn("reload the collector CA; the last good one stays in use", zap.Error(err))
		} else {
			j.log.Info("collector CA reloaded")
		}
	})
	wait := j.opts.MinBackoff
	for {
		next, err := j.join(ctx)
		if err != nil {
			j.joins.WithLabelValues("failed").Inc()
			d := wait/2 + mrand.N(wait/2+1)
			wait = min(wait*2, j.opts.MaxBackoff)
			// Retry sooner than backoff when the current certificate
			// would expire first.
			if c := j.cert.Load(); c != nil {
				d = min(d, max(time.Until(c.Leaf.NotAfter)/2, j.opts.MinBackoff))
			}
			j.log.Warn("join the collector; retrying", zap.Duration("in", d), zap.Error(err))
			next = time.Now().Add(d)
		} else {
			j.joins.WithLabelValues("ok").Inc()
			wait = j.opts.MinBackoff
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// join makes a key, joins and installs the certificate; it returns when to
// renew it.
func (j *Joiner) join(ctx context.Context) (time.Time, error) {
	token, err := os.ReadFile(j.opts.TokenFile)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the service account token: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return time.Time{}, fmt.Errorf("generate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return time.Time{}, fmt.Errorf("certificate request: %w", err)
	}
	req := &vigilv1.JoinRequest{ServiceAccountToken: strings.TrimSpace(string(token)), CsrDer: csr}
	var resp *vigilv1.JoinResponse
	var errs []error
	for _, addr := range j.addresses() {
		if resp, err = j.call(ctx, addr, req); err == nil {
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	if resp == nil {
		return time.Time{}, errors.Join(errs...)
	}
	leaf, err := x509.ParseCertificate(resp.GetCertificateDer())
	if err != nil {
		return time.Time{}, fmt.Errorf("parse the joined certificate: %w", err)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return time.Time{}, errors.New("the collector signed another key than ours")
	}
	j.cert.Store(&tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf})
	if j.first.CompareAndSwap(false, true) {
		close(j.ready)
	}
	j.notAfter.Set(float64(leaf.NotAfter.Unix()))
	j.log.Info("joined the collector", zap.String("node", resp.GetNode()),
		zap.String("serial", leaf.SerialNumber.Text(16)), zap.Time("not_after", leaf.NotAfter))
	// Two thirds of the life left, counted from now rather than NotBefore,
	// which the collector sets a little in the past.
	now := time.Now()
	return now.Add(leaf.NotAfter.Sub(now) * 2 / 3), nil
}

// addresses are the target's addresses, from a random one on, so that
// agents spread over replicas.
func (j *Joiner) addresses() []string {
	var addrs []string
	for a := range strings.SplitSeq(j.opts.Target, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 1 {
		k := mrand.N(len(addrs))
		addrs = append(addrs[k:], addrs[:k]...)
	}
	return addrs
}

// call joins at one address, on a connection of its own without a client
// certificate, closed after.
func (j *Joiner) call(ctx context.Context, addr string, req *vigilv1.JoinRequest) (*vigilv1.JoinResponse, error) {
	serverName := j.opts.ServerName
	if serverName == "" {
		if serverName, _, _ = net.SplitHostPort(addr); serverName == "" {
			serverName = addr
		}
	}
	cfg := certwatch.ClientTLS(func(context.Context) (*tls.Certificate, error) { return &tls.Certificate{}, nil }, j.roots.Current, serverName)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, fmt.Errorf("join client: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, j.opts.Timeout)
	defer cancel()
	// Not WaitForReady: a replica that is down refuses the connection, and
	// the join must fail at once and go on to the next address rather than
	// wait out the timeout for this one to come back.
	return vigilv1.NewJoinServiceClient(conn).Join(ctx, req)
}

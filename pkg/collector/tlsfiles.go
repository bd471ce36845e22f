package collector

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/certwatch"
	"github.com/vigil-dev/vigil/pkg/pki"
)

// What is reloaded (vigil_collector_tls_reloads_total{material}).
const (
	materialServing   = "serving"
	materialClientCA  = "client_ca"
	materialSigningCA = "signing_ca"
)

// tlsMaterial is the collector's TLS material, kept current while it runs:
// the serving certificate (files cert-manager or an operator rewrites, or
// one the collector issues itself from its CA and renews), the client CA
// bundle, and the CA that signs joining agents' certificates.
type tlsMaterial struct {
	files     *certwatch.Watched[*tls.Certificate] // nil when the collector issues its own
	own       *ownServing
	clientCAs *certwatch.Watched[*x509.CertPool]
	ca        *certwatch.Watched[*pki.Authority] // nil without joins
	reloads   *prometheus.CounterVec
	log       *zap.Logger
}

func loadTLS(cfg Config, reg prometheus.Registerer, log *zap.Logger) (*tlsMaterial, error) {
	m := &tlsMaterial{log: log, reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_collector_tls_reloads_total",
		Help: "TLS material reloaded or renewed while serving, by material (serving, client_ca, signing_ca) and result (loaded, failed: the last good one stays in use).",
	}, []string{"material", "result"})}
	if err := reg.Register(m.reloads); err != nil {
		return nil, fmt.Errorf("register TLS metrics: %w", err)
	}
	var err error
	if m.clientCAs, err = certwatch.New(certwatch.Pool, cfg.ClientCA); err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	if cfg.CAKey != "" {
		parse := func(c [][]byte) (*pki.Authority, error) { return pki.ParseAuthority(c[0], c[1]) }
		if m.ca, err = certwatch.New(parse, cfg.ClientCA, cfg.CAKey); err != nil {
			return nil, fmt.Errorf("signing CA: %w", err)
		}
	}
	if len(cfg.ServerNames) > 0 {
		if m.ca == nil {
			return nil, fmt.Errorf("%s: the collector issues its own serving certificate from its CA: set --%s", flagServerNames, flagCAKey)
		}
		ttl := cfg.ServerCertTTL
		if ttl <= 0 {
			ttl = DefaultConfig().ServerCertTTL
		}
		m.own, err = newOwnServing(cfg.ServerNames, ttl, m.ca.Current)
		return m, err
	}
	if m.files, err = certwatch.New(certwatch.KeyPair, cfg.TLSCert, cfg.TLSKey); err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	return m, nil
}

// serverTLS serves the current material; clientAuth as Options.TLS.
func (m *tlsMaterial) serverTLS(clientAuth tls.ClientAuthType) *tls.Config {
	cert := func() *tls.Certificate { return m.own.current() }
	if m.files != nil {
		cert = m.files.Current
	}
	return certwatch.ServerTLS(cert, m.clientCAs.Current, clientAuth)
}

// run keeps the material current until ctx ends: files are read again every
// interval, the collector's own certificate renewed at two thirds of its life.
func (m *tlsMaterial) run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultConfig().TLSReloadInterval
	}
	report := func(material string) func(error) {
		return func(err error) {
			if err != nil {
				m.reloads.WithLabelValues(material, "failed").Inc()
				m.log.Error("reload TLS material; the last good one stays in use", zap.String("material", material), zap.Error(err))
				return
			}
			m.reloads.WithLabelValues(material, "loaded").Inc()
			m.log.Info("TLS material reloaded", zap.String("material", material))
		}
	}
	done := make(chan struct{})
	n := 0
	start := func(f func()) {
		n++
		go func() { defer func() { done <- struct{}{} }(); f() }()
	}
	start(func() { m.clientCAs.Run(ctx, every, report(materialClientCA)) })
	if m.ca != nil {
		start(func() { m.ca.Run(ctx, every, report(materialSigningCA)) })
	}
	if m.files != nil {
		start(func() { m.files.Run(ctx, every, report(materialServing)) })
	} else {
		start(func() { m.own.run(ctx, report(materialServing)) })
	}
	for range n {
		<-done
	}
}

// ownServing is a serving certificate the collector issues itself from its
// CA and renews before it expires.
type ownServing struct {
	req  pki.Request
	ca   func() *pki.Authority
	cert atomic.Pointer[tls.Certificate]
}

func newOwnServing(names []string, ttl time.Duration, ca func() *pki.Authority) (*ownServing, error) {
	o := &ownServing{req: pki.Request{CommonName: "vigil-collector", ValidFor: ttl}, ca: ca}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			o.req.IPAddresses = append(o.req.IPAddresses, ip)
		} else {
			o.req.DNSNames = append(o.req.DNSNames, n)
		}
	}
	return o, o.renew()
}

func (o *ownServing) current() *tls.Certificate { return o.cert.Load() }

func (o *ownServing) renew() error {
	is, err := o.ca().Issue(o.req)
	if err != nil {
		return fmt.Errorf("issue the serving certificate: %w", err)
	}
	kp, err := is.KeyPair()
	if err != nil {
		return err
	}
	o.cert.Store(&kp)
	return nil
}

// run renews the certificate at two thirds of its life, from when it was
// issued (retrying every tenth of it when the CA cannot sign).
func (o *ownServing) run(ctx context.Context, report func(error)) {
	for {
		t := time.NewTimer(o.req.ValidFor * 2 / 3)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		for {
			err := o.renew()
			report(err)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(o.req.ValidFor / 10):
			}
		}
	}
}

package collector

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/store"
	"github.com/vigil-dev/vigil/pkg/telemetry"
)

// Config is what cmd/vigil-collector reads from flags and the environment.
type Config struct {
	// Listen is the gRPC (mTLS) address; HTTPListen serves /metrics,
	// /healthz and /readyz in plain HTTP.
	Listen, HTTPListen string
	// TLS files: the server's certificate and key, and the CA that signs
	// client (agent and consumer) certificates.
	TLSCert, TLSKey, ClientCA string
	// Store is a store DSN (see store.Open).
	Store      string
	Retention  store.Retention
	PruneEvery time.Duration
	// JSONLinesFile, when set, receives every alert as a JSON line.
	JSONLinesFile string
	// WebhookURL, when set, receives every alert as Falco output JSON;
	// WebhookAuthHeader ("Name: value") is sent with each request,
	// WebhookCA verifies the receiver, WebhookCert and WebhookKey are the
	// client certificate presented.
	WebhookURL, WebhookAuthHeader      string
	WebhookCA, WebhookCert, WebhookKey string
	// AuditJSONLinesFile and AuditWebhookURL, when set, receive the whole
	// audit trail (the webhook with the Webhook* header and TLS settings).
	AuditJSONLinesFile, AuditWebhookURL string
	SinkQueue                           int
	SubscriberQueue                     int
	MaxMessageBytes                     int
	// ShutdownGrace bounds how long Stop waits for in-flight calls.
	ShutdownGrace time.Duration
	// MaxClockSkew: see Options.MaxClockSkew.
	MaxClockSkew time.Duration
	// DraftMinNodes: see Options.DraftMinNodes.
	DraftMinNodes int
	// InheritProfiles: see Options.Inherit.
	InheritProfiles profile.InheritPolicy
	// ReadyStableFor and ReadyMinContainers: see Options.Readiness.
	ReadyStableFor     time.Duration
	ReadyMinContainers int
	Limits             Limits
}

// Run serves the collector a Config describes until ctx ends. metrics are
// served with the collector's own (the logger's, for one).
func Run(ctx context.Context, cfg Config, log *zap.Logger, metrics ...prometheus.Collector) error {
	tlsConfig, err := pki.ServerTLSFiles(cfg.TLSCert, cfg.TLSKey, cfg.ClientCA)
	if err != nil {
		return fmt.Errorf("server TLS: %w", err)
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, m := range metrics {
		if err := reg.Register(m); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	sinks, err := openSinks(cfg, reg, log)
	defer closeSinks(sinks, log)
	if err != nil {
		return err
	}
	followers, err := followSinks(cfg, st, reg, log)
	if err != nil {
		return err
	}
	defer followers.stop()
	exporters, err := exportAudit(cfg, st, reg, log)
	if err != nil {
		return err
	}
	defer exporters.stop()
	c, err := New(Options{
		TLS: tlsConfig, Store: st, Sinks: sinks, Followers: followers.list, AuditExporters: exporters.list, SubscriberQueue: cfg.SubscriberQueue,
		MaxMessageBytes: cfg.MaxMessageBytes, Retention: cfg.Retention, PruneEvery: cfg.PruneEvery, MaxClockSkew: cfg.MaxClockSkew,
		DraftMinNodes: cfg.DraftMinNodes, Inherit: cfg.InheritProfiles, Limits: cfg.Limits,
		Readiness: profile.ReadinessPolicy{StableFor: cfg.ReadyStableFor, MinContainers: cfg.ReadyMinContainers},
		Logger:    log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	if err := c.auditConfig(ctx, cfg); err != nil {
		return err
	}

	grpcLis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen for gRPC: %w", err)
	}
	httpSrv, err := telemetry.Listen(cfg.HTTPListen, reg, nil, c.Ready, log)
	if err != nil {
		grpcLis.Close()
		return err
	}
	log.Info("http serving", zap.String(logKeyAddress, httpSrv.Addr().String()))
	errs := make(chan error, 1)
	go func() { errs <- c.Serve(grpcLis) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	}
	grace := cfg.ShutdownGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	log.Info("collector stopping")
	c.Stop(stopCtx)
	httpSrv.Close()
	log.Info("collector stopped")
	return serveErr
}

package collector

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vigil-dev/vigil/pkg/join"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/profilesync"
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
	// CAKey is the private key of the client CA (of the certificate in
	// ClientCA that matches it): the collector signs joining agents' and
	// its own serving certificates with it.
	CAKey string
	// ServerNames, when set, make the collector issue its own serving
	// certificate for these DNS names and addresses from its CA (CAKey),
	// valid ServerCertTTL and renewed at two thirds of that, instead of
	// reading TLSCert and TLSKey.
	ServerNames   []string
	ServerCertTTL time.Duration
	// TLSReloadInterval is how often the TLS files are read again; a change
	// is used from the next handshake on.
	TLSReloadInterval time.Duration
	// Join configures JoinService.
	Join JoinConfig
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
	// ProfileCRDs keeps ImageProfile resources in step (pkg/profilesync),
	// through Kubeconfig (empty: in-cluster), electing one replica on a
	// Lease in ProfileCRDsNamespace; ProfileCRDsResync: see
	// profilesync.Options.Resync.
	ProfileCRDs          bool
	Kubeconfig           string
	ProfileCRDsNamespace string
	ProfileCRDsResync    time.Duration
}

// JoinConfig says who may join and what they get (join.Options).
type JoinConfig struct {
	// Enabled serves JoinService; it needs Config.CAKey.
	Enabled                   bool
	Audience                  string
	Namespace, ServiceAccount string
	CertTTL                   time.Duration
	MaxInFlight               int
	// MaxConnections caps connections without a client certificate.
	MaxConnections int
}

// Run serves the collector a Config describes until ctx ends. metrics are
// served with the collector's own (the logger's, for one).
func Run(ctx context.Context, cfg Config, log *zap.Logger, metrics ...prometheus.Collector) error {
	reg := prometheus.NewRegistry()
	material, err := loadTLS(cfg, reg, log)
	if err != nil {
		return fmt.Errorf("server TLS: %w", err)
	}
	var kube *rest.Config
	if cfg.ProfileCRDs {
		if kube, err = kubeConfig(cfg.Kubeconfig); err != nil {
			return err
		}
	}
	clientAuth := tls.RequireAndVerifyClientCert
	var joins *join.Server
	if cfg.Join.Enabled {
		if joins, err = newJoinServer(cfg, material, reg, log); err != nil {
			return err
		}
		clientAuth = tls.VerifyClientCertIfGiven
	}
	tlsCtx, stopTLS := context.WithCancel(ctx)
	defer stopTLS()
	go material.run(tlsCtx, cfg.TLSReloadInterval)
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()

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
	defer followers.close(log)
	exporters, err := exportAudit(cfg, st, reg, log)
	if err != nil {
		return err
	}
	defer exporters.close(log)
	c, err := New(Options{
		TLS: material.serverTLS(clientAuth), Join: joins, AnonymousConns: cfg.Join.MaxConnections, Store: st, Sinks: sinks, Followers: followers.list, AuditExporters: exporters.list, SubscriberQueue: cfg.SubscriberQueue,
		MaxMessageBytes: cfg.MaxMessageBytes, Retention: cfg.Retention, PruneEvery: cfg.PruneEvery, MaxClockSkew: cfg.MaxClockSkew,
		DraftMinNodes: cfg.DraftMinNodes, Inherit: cfg.InheritProfiles, Limits: cfg.Limits,
		Readiness: profile.ReadinessPolicy{StableFor: cfg.ReadyStableFor, MinContainers: cfg.ReadyMinContainers},
		Logger:    log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	// Stopped before the sinks close (on the way out of an error, too):
	// its leader runs them.
	defer c.Stop(context.Background())
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
	syncCtx, stopSync := context.WithCancel(ctx)
	synced := make(chan struct{})
	if kube != nil {
		go func() {
			defer close(synced)
			err := profilesync.Run(syncCtx, profilesync.Options{Kube: kube, Profiles: c, Namespace: cfg.ProfileCRDsNamespace,
				Resync: cfg.ProfileCRDsResync, Logger: log.Named("profilesync"), Registerer: reg})
			if err != nil {
				log.Error("ImageProfiles are not kept in step", zap.Error(err))
			}
		}()
	} else {
		close(synced)
	}

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
	// The Lease is released before the collector stops serving, so that
	// another replica takes over while this one drains.
	stopSync()
	<-synced
	c.Stop(stopCtx)
	httpSrv.Close()
	log.Info("collector stopped")
	return serveErr
}

// kubeConfig is the Kubernetes client configuration of --kubeconfig, or
// the pod's service account when empty.
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		c, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagKubeconfig, err)
		}
		return c, nil
	}
	c, err := rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		return nil, fmt.Errorf("--%s needs the Kubernetes API: not in a cluster (no KUBERNETES_SERVICE_HOST), so give --%s, or turn --%s off",
			flagProfileCRDs, flagKubeconfig, flagProfileCRDs)
	}
	if err != nil {
		return nil, fmt.Errorf("--%s: in-cluster config: %w", flagProfileCRDs, err)
	}
	return c, nil
}

func newJoinServer(cfg Config, material *tlsMaterial, reg prometheus.Registerer, log *zap.Logger) (*join.Server, error) {
	if material.ca == nil {
		return nil, fmt.Errorf("join: the collector signs agents' certificates with its CA: set --%s", flagCAKey)
	}
	kube, err := join.KubeConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	j := cfg.Join
	return join.New(join.Options{Kube: kube, Audience: j.Audience, Namespace: j.Namespace, ServiceAccount: j.ServiceAccount,
		CertTTL: j.CertTTL, MaxInFlight: j.MaxInFlight, Authority: material.ca.Current, Logger: log, Registerer: reg})
}

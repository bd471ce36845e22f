package collector

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/pflag"

	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/store"
)

// The names of the collector's settings: its flags, the keys of its config
// file, and (as VIGIL_COLLECTOR_<NAME>) its environment variables. Errors
// about a setting name it by these.
const (
	flagListen          = "listen"
	flagHTTPListen      = "http-listen"
	flagTLSCert         = "tls-cert"
	flagTLSKey          = "tls-key"
	flagClientCA        = "client-ca"
	flagCAKey           = "ca-key"
	flagServerNames     = "server-names"
	flagServerCertTTL   = "server-cert-ttl"
	flagTLSReload       = "tls-reload-interval"
	flagJoin            = "join"
	flagJoinAudience    = "join-audience"
	flagJoinNamespace   = "join-namespace"
	flagJoinSA          = "join-service-account"
	flagJoinCertTTL     = "join-cert-ttl"
	flagJoinInFlight    = "join-max-in-flight"
	flagJoinConns       = "join-max-connections"
	flagStore           = "store"
	flagRetentionAge    = "retention-age"
	flagRetentionBytes  = "retention-bytes"
	flagPruneEvery      = "prune-every"
	flagJSONLinesFile   = "jsonl-file"
	flagWebhookURL      = "webhook-url"
	flagAuditFile       = "audit-jsonl-file"
	flagAuditWebhook    = "audit-webhook-url"
	flagWebhookAuth     = "webhook-auth-header"
	flagWebhookCA       = "webhook-ca"
	flagWebhookCert     = "webhook-cert"
	flagWebhookKey      = "webhook-key"
	flagSinkQueue       = "sink-queue"
	flagSubscriberQueue = "subscriber-queue"
	flagMaxMessageBytes = "max-message-bytes"
	flagShutdownGrace   = "shutdown-grace"
	flagMaxClockSkew    = "max-clock-skew"
	flagMaxStreams      = "max-streams"
	flagStreamsPerID    = "max-streams-per-identity"
	flagConnsPerID      = "max-connections-per-identity"
	flagCallsPerSecond  = "calls-per-second"
	flagAlertsPerSecond = "alerts-per-second"
	flagDraftMinNodes   = "draft-min-nodes"
	flagInherit         = "inherit-profiles"
	flagReadyStableFor  = "ready-stable-for"
	flagReadyContainers = "ready-min-containers"
	flagProfileCRDs     = "profile-crds"
	flagKubeconfig      = "kubeconfig"
	flagProfileCRDsNS   = "profile-crds-namespace"
	flagProfileCRDsSync = "profile-crds-resync"
)

// DefaultConfig is a collector on :7443 (gRPC) and :7080 (HTTP) with its
// certificates in /etc/vigil/certs and an embedded SQLite store.
func DefaultConfig() Config {
	return Config{
		Listen:            ":7443",
		HTTPListen:        ":7080",
		TLSCert:           "/etc/vigil/certs/server.pem",
		TLSKey:            "/etc/vigil/certs/server-key.pem",
		ClientCA:          "/etc/vigil/certs/ca.pem",
		ServerCertTTL:     7 * 24 * time.Hour,
		TLSReloadInterval: 10 * time.Second,
		Join: JoinConfig{Audience: "vigil", Namespace: "vigil", ServiceAccount: "vigil-agent", CertTTL: time.Hour,
			MaxInFlight: 32, MaxConnections: 256},
		Store:                "sqlite:/var/lib/vigil/collector.db",
		Retention:            store.Retention{MaxAge: 30 * 24 * time.Hour, MaxBytes: 1 << 30},
		PruneEvery:           time.Minute,
		SinkQueue:            1024,
		SubscriberQueue:      1024,
		MaxMessageBytes:      4 << 20,
		ShutdownGrace:        10 * time.Second,
		MaxClockSkew:         5 * time.Minute,
		DraftMinNodes:        2,
		InheritProfiles:      profile.InheritMonitor,
		ReadyStableFor:       profile.DefaultReadiness.StableFor,
		ReadyMinContainers:   profile.DefaultReadiness.MinContainers,
		ProfileCRDsNamespace: "vigil",
		ProfileCRDsResync:    time.Minute,
		Limits: Limits{Streams: 4096, StreamsPerIdentity: 16, ConnectionsPerIdentity: 16,
			CallsPerSecond: 20, AlertsPerSecond: 2000},
	}
}

// Flags are vigil-collector's settings, as flags. They live here, not in the
// command, so that the shipped configuration files (deploy/config, the
// collector's ConfigMap) can be checked against the real flag set: a config
// file's keys are these flags' names.
type Flags struct {
	Config Config
	// ConfigFile is the YAML file of settings (--config).
	ConfigFile string
	Log        cliflags.LogFlags
}

// NewFlags returns the defaults.
func NewFlags() *Flags {
	return &Flags{Config: DefaultConfig()}
}

// Register adds every setting to fs.
func (f *Flags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&f.ConfigFile, "config", "", "YAML file of settings, keys named as these flags")
	registerConfig(fs, &f.Config)
	f.Log.Register(fs, "json")
}

func registerConfig(fs *pflag.FlagSet, c *Config) {
	fs.StringVar(&c.Listen, flagListen, c.Listen, "gRPC (mTLS) listen address for agents and consumers")
	fs.StringVar(&c.HTTPListen, flagHTTPListen, c.HTTPListen, "plain HTTP listen address for /metrics, /healthz and /readyz")
	fs.StringVar(&c.TLSCert, flagTLSCert, c.TLSCert, "server certificate (PEM)")
	fs.StringVar(&c.TLSKey, flagTLSKey, c.TLSKey, "server private key (PEM)")
	fs.StringVar(&c.ClientCA, flagClientCA, c.ClientCA, "CA that signs agent and consumer certificates (PEM; a bundle while a CA rotates)")
	fs.StringVar(&c.CAKey, flagCAKey, c.CAKey, "private key of the client CA (PEM): the collector signs joining agents' certificates, and its own serving one with --server-names")
	fs.StringSliceVar(&c.ServerNames, flagServerNames, c.ServerNames,
		"DNS names and addresses for a serving certificate the collector issues itself from its CA and renews (instead of --tls-cert and --tls-key)")
	fs.DurationVar(&c.ServerCertTTL, flagServerCertTTL, c.ServerCertTTL, "lifetime of the serving certificate the collector issues itself; renewed at two thirds of it")
	fs.DurationVar(&c.TLSReloadInterval, flagTLSReload, c.TLSReloadInterval,
		"how often the TLS files (certificate, key, CAs) are read again: a rewritten file (cert-manager, a Secret's update) is used from the next connection on")
	fs.BoolVar(&c.Join.Enabled, flagJoin, c.Join.Enabled,
		"agents join with their pod's ServiceAccount token (verified by TokenReview) and get a short-lived certificate for the pod's node; needs --ca-key")
	fs.StringVar(&c.Join.Audience, flagJoinAudience, c.Join.Audience, "audience the agents' projected tokens must be for")
	fs.StringVar(&c.Join.Namespace, flagJoinNamespace, c.Join.Namespace, "namespace of the agents' pods: tokens of other namespaces are refused")
	fs.StringVar(&c.Join.ServiceAccount, flagJoinSA, c.Join.ServiceAccount, "ServiceAccount of the agents' pods: tokens of other accounts are refused")
	fs.DurationVar(&c.Join.CertTTL, flagJoinCertTTL, c.Join.CertTTL, "lifetime of a joined agent's certificate, never past its token's expiry; agents renew at two thirds of it")
	fs.IntVar(&c.Join.MaxInFlight, flagJoinInFlight, c.Join.MaxInFlight, "joins served at once (each a TokenReview and a pod read); more are refused and retried")
	fs.IntVar(&c.Join.MaxConnections, flagJoinConns, c.Join.MaxConnections,
		"connections without a client certificate (joining agents) open at once; each is closed after 30s")
	fs.StringVar(&c.Store, flagStore, c.Store, "store: sqlite:PATH (embedded) or postgres://user@host/db")
	fs.DurationVar(&c.Retention.MaxAge, flagRetentionAge, c.Retention.MaxAge, "delete alerts received longer ago than this (0: keep)")
	fs.Int64Var(&c.Retention.MaxBytes, flagRetentionBytes, c.Retention.MaxBytes, "keep at most this many bytes of alerts, deleting the oldest (0: no cap)")
	fs.DurationVar(&c.PruneEvery, flagPruneEvery, c.PruneEvery, "how often retention runs")
	fs.StringVar(&c.JSONLinesFile, flagJSONLinesFile, c.JSONLinesFile, "append every alert to this file as JSON lines")
	fs.StringVar(&c.WebhookURL, flagWebhookURL, c.WebhookURL,
		"POST every alert as Falco output JSON to this URL (e.g. Falcosidekick), from the store: a receiver that was down catches up")
	fs.StringVar(&c.AuditJSONLinesFile, flagAuditFile, c.AuditJSONLinesFile,
		"append the whole audit trail to this file as JSON lines, from the store (vigilctl audit verify --file checks it)")
	fs.StringVar(&c.AuditWebhookURL, flagAuditWebhook, c.AuditWebhookURL,
		"POST every audit record as JSON to this URL, from the store, with the --webhook-* header and TLS settings")
	fs.StringVar(&c.WebhookAuthHeader, flagWebhookAuth, c.WebhookAuthHeader,
		`header sent with every webhook request, "Name: value" (e.g. "Authorization: Bearer TOKEN"; better set from the environment)`)
	fs.StringVar(&c.WebhookCA, flagWebhookCA, c.WebhookCA, "CA that signs the webhook receiver's certificate (PEM; default: the system's)")
	fs.StringVar(&c.WebhookCert, flagWebhookCert, c.WebhookCert, "client certificate presented to the webhook receiver (PEM)")
	fs.StringVar(&c.WebhookKey, flagWebhookKey, c.WebhookKey, "private key of --webhook-cert (PEM)")
	fs.IntVar(&c.SinkQueue, flagSinkQueue, c.SinkQueue, "alerts each sink may have waiting before it drops")
	fs.IntVar(&c.SubscriberQueue, flagSubscriberQueue, c.SubscriberQueue, "alerts each live subscriber may have waiting before it drops")
	fs.IntVar(&c.MaxMessageBytes, flagMaxMessageBytes, c.MaxMessageBytes, "largest gRPC message accepted")
	fs.DurationVar(&c.ShutdownGrace, flagShutdownGrace, c.ShutdownGrace, "how long shutdown waits for in-flight calls")
	fs.DurationVar(&c.MaxClockSkew, flagMaxClockSkew, c.MaxClockSkew,
		"an alert time further ahead of the collector's clock is replaced by the receive time (the agent's is kept in the agent_time label)")
	fs.IntVar(&c.DraftMinNodes, flagDraftMinNodes, c.DraftMinNodes,
		"an entry of a node's draft enters its image's profile once this many nodes' drafts allow it (however few nodes run the image; 1 trusts a single node alone)")
	fs.StringVar((*string)(&c.InheritProfiles), flagInherit, string(c.InheritProfiles),
		"a new digest running on the profile its agents inherited from the newest promoted one of its repository gets it as version 1: off, monitor (in monitor mode) or enforce (in the parent's mode)")
	fs.DurationVar(&c.ReadyStableFor, flagReadyStableFor, c.ReadyStableFor,
		"a profile is reported ready to enforce once learning has added nothing new for this long (and the rest of its evidence holds)")
	fs.IntVar(&c.ReadyMinContainers, flagReadyContainers, c.ReadyMinContainers,
		"a profile is reported ready to enforce once learned from this many containers (a restart or a replica beside the first)")
	fs.BoolVar(&c.ProfileCRDs, flagProfileCRDs, c.ProfileCRDs,
		"keep ImageProfile resources and the store in step both ways (one replica at a time, on a Lease): a changed spec is applied as vigilctl would, the store's state goes to status")
	fs.StringVar(&c.Kubeconfig, flagKubeconfig, c.Kubeconfig, "kubeconfig for the Kubernetes API, which --join and --profile-crds use (default: the pod's service account, in a cluster)")
	fs.StringVar(&c.ProfileCRDsNamespace, flagProfileCRDsNS, c.ProfileCRDsNamespace, "namespace of the Lease the replicas elect the one that keeps ImageProfiles in step on")
	fs.DurationVar(&c.ProfileCRDsResync, flagProfileCRDsSync, c.ProfileCRDsResync, "how often every ImageProfile's status is refreshed even when nothing changed (readiness changes with time)")
	fs.IntVar(&c.Limits.Streams, flagMaxStreams, c.Limits.Streams, "streams open at once, all clients together; at it, /readyz fails and new streams are refused")
	fs.IntVar(&c.Limits.StreamsPerIdentity, flagStreamsPerID, c.Limits.StreamsPerIdentity, "streams one client certificate may hold open (an agent holds two)")
	fs.IntVar(&c.Limits.ConnectionsPerIdentity, flagConnsPerID, c.Limits.ConnectionsPerIdentity, "connections one client certificate may hold open (an agent holds one)")
	fs.Float64Var(&c.Limits.CallsPerSecond, flagCallsPerSecond, c.Limits.CallsPerSecond,
		"calls (and stream opens) one client certificate may make a second, in bursts of ten seconds' worth; more are refused")
	fs.Float64Var(&c.Limits.AlertsPerSecond, flagAlertsPerSecond, c.Limits.AlertsPerSecond,
		"alerts one agent may send a second, in bursts of ten seconds' worth; past it the collector takes its batches later (its spool holds them)")
}

// Validate checks what a typo in a config file would make fail later, or
// silently replace with a default, naming each bad setting.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	for _, s := range []struct{ name, v string }{{flagListen, c.Listen}, {flagHTTPListen, c.HTTPListen},
		{flagTLSCert, c.TLSCert}, {flagTLSKey, c.TLSKey}, {flagClientCA, c.ClientCA}, {flagStore, c.Store}} {
		if s.v == "" {
			bad(s.name, "must not be empty")
		}
	}
	if c.Retention.MaxAge < 0 {
		bad(flagRetentionAge, "must not be negative, got %v", c.Retention.MaxAge)
	}
	if c.Retention.MaxBytes < 0 {
		bad(flagRetentionBytes, "must not be negative, got %d", c.Retention.MaxBytes)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{flagPruneEvery, c.PruneEvery}, {flagShutdownGrace, c.ShutdownGrace}, {flagServerCertTTL, c.ServerCertTTL}, {flagTLSReload, c.TLSReloadInterval}, {flagJoinCertTTL, c.Join.CertTTL}, {flagMaxClockSkew, c.MaxClockSkew}, {flagReadyStableFor, c.ReadyStableFor},
		{flagProfileCRDsSync, c.ProfileCRDsResync}} {
		if d.v <= 0 {
			bad(d.name, "must be positive, got %v", d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{flagSinkQueue, c.SinkQueue}, {flagSubscriberQueue, c.SubscriberQueue}, {flagMaxMessageBytes, c.MaxMessageBytes},
		{flagDraftMinNodes, c.DraftMinNodes}, {flagReadyContainers, c.ReadyMinContainers}, {flagMaxStreams, c.Limits.Streams}, {flagStreamsPerID, c.Limits.StreamsPerIdentity}, {flagConnsPerID, c.Limits.ConnectionsPerIdentity},
		{flagJoinInFlight, c.Join.MaxInFlight}, {flagJoinConns, c.Join.MaxConnections}} {
		if n.v <= 0 {
			bad(n.name, "must be positive, got %d", n.v)
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{flagCallsPerSecond, c.Limits.CallsPerSecond}, {flagAlertsPerSecond, c.Limits.AlertsPerSecond}} {
		if !(r.v > 0) {
			bad(r.name, "must be positive, got %v", r.v)
		}
	}
	if _, err := profile.ParseInheritPolicy(string(c.InheritProfiles)); err != nil {
		bad(flagInherit, "%v", err)
	}
	for _, w := range []struct{ name, v string }{{flagWebhookURL, c.WebhookURL}, {flagAuditWebhook, c.AuditWebhookURL}} {
		if w.v == "" {
			continue
		}
		if u, err := url.Parse(w.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(w.name, "want an http:// or https:// URL, got %q", w.v)
		}
	}
	if _, err := parseHeader(c.WebhookAuthHeader); err != nil {
		bad(flagWebhookAuth, "%v", err)
	}
	if c.ProfileCRDs && c.ProfileCRDsNamespace == "" {
		bad(flagProfileCRDsNS, "must not be empty with --%s", flagProfileCRDs)
	}
	if c.Join.Enabled && c.CAKey == "" {
		bad(flagJoin, "needs --%s (the CA key that signs agents' certificates)", flagCAKey)
	}
	if len(c.ServerNames) > 0 && c.CAKey == "" {
		bad(flagServerNames, "needs --%s (the CA key that signs the serving certificate)", flagCAKey)
	}
	if c.Join.Enabled && (c.Join.Audience == "" || c.Join.Namespace == "" || c.Join.ServiceAccount == "") {
		bad(flagJoin, "needs --%s, --%s and --%s", flagJoinAudience, flagJoinNamespace, flagJoinSA)
	}
	if (c.WebhookCert == "") != (c.WebhookKey == "") {
		bad(flagWebhookCert, "--%s and --%s go together", flagWebhookCert, flagWebhookKey)
	}
	return errors.Join(errs...)
}

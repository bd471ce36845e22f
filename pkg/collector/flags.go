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
)

// DefaultConfig is a collector on :7443 (gRPC) and :7080 (HTTP) with its
// certificates in /etc/vigil/certs and an embedded SQLite store.
func DefaultConfig() Config {
	return Config{
		Listen:             ":7443",
		HTTPListen:         ":7080",
		TLSCert:            "/etc/vigil/certs/server.pem",
		TLSKey:             "/etc/vigil/certs/server-key.pem",
		ClientCA:           "/etc/vigil/certs/ca.pem",
		Store:              "sqlite:/var/lib/vigil/collector.db",
		Retention:          store.Retention{MaxAge: 30 * 24 * time.Hour, MaxBytes: 1 << 30},
		PruneEvery:         time.Minute,
		SinkQueue:          1024,
		SubscriberQueue:    1024,
		MaxMessageBytes:    4 << 20,
		ShutdownGrace:      10 * time.Second,
		MaxClockSkew:       5 * time.Minute,
		DraftMinNodes:      2,
		InheritProfiles:    profile.InheritMonitor,
		ReadyStableFor:     profile.DefaultReadiness.StableFor,
		ReadyMinContainers: profile.DefaultReadiness.MinContainers,
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
	fs.StringVar(&c.ClientCA, flagClientCA, c.ClientCA, "CA that signs agent and consumer certificates (PEM)")
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
	}{{flagPruneEvery, c.PruneEvery}, {flagShutdownGrace, c.ShutdownGrace}, {flagMaxClockSkew, c.MaxClockSkew}, {flagReadyStableFor, c.ReadyStableFor}} {
		if d.v <= 0 {
			bad(d.name, "must be positive, got %v", d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{flagSinkQueue, c.SinkQueue}, {flagSubscriberQueue, c.SubscriberQueue}, {flagMaxMessageBytes, c.MaxMessageBytes},
		{flagDraftMinNodes, c.DraftMinNodes}, {flagReadyContainers, c.ReadyMinContainers}, {flagMaxStreams, c.Limits.Streams}, {flagStreamsPerID, c.Limits.StreamsPerIdentity}, {flagConnsPerID, c.Limits.ConnectionsPerIdentity}} {
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
	if (c.WebhookCert == "") != (c.WebhookKey == "") {
		bad(flagWebhookCert, "--%s and --%s go together", flagWebhookCert, flagWebhookKey)
	}
	return errors.Join(errs...)
}

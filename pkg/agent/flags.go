package agent

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// DefaultMetricsAddr is where `vigil-agent run` serves /metrics, /healthz
// and /readyz unless told otherwise.
const DefaultMetricsAddr = "127.0.0.1:9700"

// RunFlags are the settings of `vigil-agent run`, as flags. They live here,
// not in the command, so that the shipped configuration files
// (deploy/config, the DaemonSet's ConfigMap) can be checked against the real
// flag set: a config file's keys are these flags' names.
type RunFlags struct {
	// Config holds every setting that maps one-to-one onto the agent's Config.
	Config Config
	// ConfigFile is the YAML file of settings (--config).
	ConfigFile string
	// MetricsAddr serves /metrics, /healthz and /readyz ("" disables).
	MetricsAddr string
	// MemoryLimit is the pod's memory limit in bytes (0: none), which sets
	// the Go runtime's soft limit (GoMemoryLimit).
	MemoryLimit int64

	defaultMode    string
	inherit        string
	namespaceModes map[string]string
	imageModes     map[string]string
	approvalAction string
}

// NewRunFlags returns the defaults, with node as the node name.
func NewRunFlags(node string) *RunFlags {
	f := &RunFlags{Config: DefaultConfig(), MetricsAddr: DefaultMetricsAddr, defaultMode: string(profile.ModeLearn),
		inherit: string(DefaultConfig().Inherit), approvalAction: string(DefaultConfig().Approval.Action)}
	f.Config.Node = node
	return f
}

// Register adds every setting to fs.
func (r *RunFlags) Register(f *pflag.FlagSet) {
	c := &r.Config
	f.StringVar(&r.ConfigFile, "config", "", "YAML file of settings, keys named as these flags")
	f.StringVar(&c.Node, "node-name", c.Node, "this node's name in alerts (the Kubernetes node name)")
	f.StringVar(&c.StateDir, "state-dir", c.StateDir, "where learned drafts and the alert spool survive restarts")
	f.StringVar(&c.ProcRoot, "proc", c.ProcRoot, "the host's procfs")
	f.StringVar(&c.ContainerdSocket, "containerd-socket", c.ContainerdSocket, `containerd's socket ("" for host-only attribution)`)
	f.StringVar(&c.ProfilesDir, "profiles-dir", c.ProfilesDir, "directory of profile YAML files, followed for changes (a ConfigMap, a GitOps checkout)")
	f.Int64Var(&c.ProfileMaxBytes, "profile-max-bytes", c.ProfileMaxBytes, "a file of --profiles-dir larger than this is rejected unread")
	f.StringVar(&r.defaultMode, "default-mode", r.defaultMode, "mode of images no other setting names: learn, monitor or enforce")
	f.StringToStringVar(&r.namespaceModes, "namespace-mode", nil, "mode per Kubernetes namespace, e.g. shop=monitor (repeatable)")
	f.StringToStringVar(&r.imageModes, "image-mode", nil, "mode per image name or digest, e.g. nginx:1.27=learn (repeatable)")
	f.StringVar(&r.inherit, "inherit-profiles", r.inherit, "a new digest without a profile inherits the newest promoted profile of its repository: off, monitor (in monitor mode) or enforce (in the parent's mode)")
	f.StringVar(&c.AlertsFile, "alerts-file", c.AlertsFile, `append every alert to this file as JSON lines ("" disables)`)
	f.DurationVar(&c.DedupWindow, "dedup-window", c.DedupWindow, "repeats of one behaviour within this window become one summary alert with a count")
	f.DurationVar(&c.SaveInterval, "save-interval", c.SaveInterval, "how often changed drafts are saved to --state-dir")
	f.StringVar(&c.Collector.Address, "collector", c.Collector.Address, `collector address host:port, or its replicas' addresses separated by commas ("" runs without one)`)
	f.StringVar(&c.Collector.Cert, "collector-cert", c.Collector.Cert, "this node's client certificate (PEM) for the collector")
	f.StringVar(&c.Collector.Key, "collector-key", c.Collector.Key, "its private key (PEM)")
	f.StringVar(&c.Collector.JoinTokenFile, "join-token-file", c.Collector.JoinTokenFile,
		"the pod's projected ServiceAccount token: the agent joins the collector with it and gets its client certificate (no --collector-cert), renewed before it expires")
	f.StringVar(&c.Collector.CA, "collector-ca", c.Collector.CA, "the CA the collector's certificate chains to (PEM)")
	f.StringVar(&c.Collector.ServerName, "collector-server-name", c.Collector.ServerName, "name expected in the collector's certificate (default: the address's host)")
	f.DurationVar(&c.Collector.StatusInterval, "status-interval", c.Collector.StatusInterval, "how often status and drafts go to the collector")
	f.StringVar(&c.PinDir, "pin-dir", c.PinDir, `bpffs directory that keeps enforcement attached while the agent restarts ("" ends it with the agent)`)
	f.StringVar(&r.MetricsAddr, "metrics-addr", r.MetricsAddr, `serve /metrics, /healthz and /readyz here ("" disables)`)
	f.Int64Var(&r.MemoryLimit, "memory-limit", r.MemoryLimit, "the pod's memory limit in bytes (the DaemonSet passes limits.memory): Go's garbage collector keeps the heap under it, less the ring buffers and 64 MiB for maps and the binary (0: no limit)")
	f.IntVar(&c.Sensor.RingBufferSize, "ring-buffer-size", c.Sensor.RingBufferSize, "kernel ring buffer bytes (rounded up to a power of two)")
	f.IntVar(&c.Sensor.QueueSize, "queue-size", c.Sensor.QueueSize, "decoded events buffered for the pipeline before drops (counted)")
	f.IntVar(&c.Sensor.JudgedRingBufferSize, "judged-ring-buffer-size", c.Sensor.JudgedRingBufferSize, "kernel ring buffer bytes of monitored and enforced containers' events, apart from the rest (rounded up to a power of two)")
	f.IntVar(&c.Sensor.JudgedQueueSize, "judged-queue-size", c.Sensor.JudgedQueueSize, "monitored and enforced containers' decoded events buffered for the pipeline, which takes them first, before drops (counted)")
	f.BoolVar(&c.Sensor.SysExitOnly, "sys-exit-only", c.Sensor.SysExitOnly, "see opens and connects at the system-call exit, and capability checks at the cap_capable tracepoint, even where the kernel runs fexit programs, which cost nothing on other system calls (vigil-agent status says which)")
	f.StringSliceVar(&c.Approval.Images, "approved-images", c.Approval.Images, "repositories whose images may run, normalized (docker.io/library/nginx), or prefixes ending in /* (myacr.azurecr.io/team/*); none approves every repository")
	f.BoolVar(&c.Approval.RequireKnownDigest, "approved-images-require-known-digest", c.Approval.RequireKnownDigest, "approve only image digests with a profile: no image runs that was not learned")
	f.StringVar(&r.approvalAction, "approved-images-action", r.approvalAction, "what a container of an unapproved image meets: off, alert, or enforce (it is killed before its entrypoint runs, and alerted)")
	f.DurationVar(&c.LearnWindow, "learn-window", c.LearnWindow, "a file, inet destination or capability a learning container keeps using, and an io_uring operation any container keeps using, is reported once per window, with a count (0 reports every use)")
}

// AgentConfig is the agent's Config with the mode flags resolved, naming a
// bad one.
func (r *RunFlags) AgentConfig() (Config, error) {
	cfg := r.Config
	def, err := profile.ParseMode(r.defaultMode)
	if err != nil {
		return Config{}, fmt.Errorf("--default-mode: %w", err)
	}
	cfg.Modes = profile.ModePolicy{Default: def, Namespaces: map[string]profile.Mode{}, Images: map[string]profile.Mode{}}
	if cfg.Inherit, err = profile.ParseInheritPolicy(r.inherit); err != nil {
		return Config{}, fmt.Errorf("--inherit-profiles: %w", err)
	}
	if cfg.Approval.Action, err = approval.ParseAction(r.approvalAction); err != nil {
		return Config{}, fmt.Errorf("--approved-images-action: %w", err)
	}
	if err := cfg.Approval.Validate(); err != nil {
		return Config{}, fmt.Errorf("--approved-images: %w", err)
	}
	for _, set := range []struct {
		flag string
		from map[string]string
		to   map[string]profile.Mode
	}{
		{"--namespace-mode", r.namespaceModes, cfg.Modes.Namespaces},
		{"--image-mode", r.imageModes, cfg.Modes.Images},
	} {
		for k, v := range set.from {
			m, err := profile.ParseMode(v)
			if err != nil {
				return Config{}, fmt.Errorf("%s %s: %w", set.flag, k, err)
			}
			set.to[k] = m
		}
	}
	return cfg, nil
}

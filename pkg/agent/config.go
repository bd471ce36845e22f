package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/profiledir"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Config is everything the agent is told.
type Config struct {
	// Node names this node in alerts and learned evidence.
	Node string
	// StateDir keeps what must survive a restart: drafts, the alert spool,
	// the process table a stopping agent hands over.
	StateDir string
	// ProcRoot is the host's procfs.
	ProcRoot string
	// ContainerdSocket is containerd's socket; "" for host-only attribution.
	ContainerdSocket string
	// ProfilesDir, when set, is a directory of profile YAML files, followed
	// for changes (a ConfigMap or a GitOps checkout).
	ProfilesDir string
	// ProfileMaxBytes bounds what is read of one file of ProfilesDir; a
	// larger file is rejected unread.
	ProfileMaxBytes int64
	// Modes chooses each image's mode.
	Modes profile.ModePolicy
	// Inherit says whether a new digest of a repository inherits the
	// newest promoted profile of that repository, and in which mode.
	Inherit profile.InheritPolicy
	// Limits bound learned drafts.
	Limits profile.Limits
	// AlertsFile, when set, receives every alert as a JSON line.
	AlertsFile string
	// DedupWindow groups repeats of a behaviour into one summary alert.
	DedupWindow time.Duration
	// SaveInterval is how often changed drafts are written to StateDir.
	SaveInterval time.Duration
	// PinDir keeps enforcement attached across agent restarts (bpffs); ""
	// lets it end with the agent.
	PinDir string
	// LearnWindow is how long a use a learning container repeats stays in
	// the kernel after it was reported; 0 reports every use.
	LearnWindow time.Duration
	// Sensor tunes the kernel side; its Types are set by the agent.
	Sensor sensor.Config
	// Collector, when its Address is set, receives alerts, status and drafts
	// and sends profiles.
	Collector CollectorConfig
	// Approval is which images may run on the node, and what an unapproved
	// one meets.
	Approval approval.Policy
}

// CollectorConfig is how to reach the collector, with mutual TLS.
type CollectorConfig struct {
	Address   string
	Cert, Key string // this node's client certificate
	// JoinTokenFile, instead of Cert and Key, is the pod's projected
	// ServiceAccount token: the agent joins the collector with it for a
	// short-lived certificate of its node (pkg/agentcert).
	JoinTokenFile string
	CA            string // the CA the collector's certificate chains to (read again as it changes)
	ServerName    string // expected in the collector's certificate; host of Address when empty
	// StatusInterval is how often the agent reports its status; drafts
	// being learned are submitted at the same pace.
	StatusInterval time.Duration
}

// DefaultConfig is a node agent with the collector off.
func DefaultConfig() Config {
	return Config{
		StateDir:         "/var/lib/vigil",
		ProcRoot:         procfs.DefaultRoot,
		ContainerdSocket: "/run/containerd/containerd.sock",
		ProfileMaxBytes:  profiledir.DefaultMaxFileBytes,
		Modes:            profile.ModePolicy{Default: profile.ModeLearn},
		Inherit:          profile.InheritMonitor,
		AlertsFile:       "/var/log/vigil/alerts.jsonl",
		DedupWindow:      time.Minute,
		SaveInterval:     30 * time.Second,
		PinDir:           "/sys/fs/bpf/vigil",
		LearnWindow:      enforce.DefaultKernelConfig().LearnWindow,
		Sensor:           defaultSensorConfig(),
		Collector:        CollectorConfig{StatusInterval: 30 * time.Second},
		Approval:         approval.Policy{Action: approval.ActionOff},
	}
}

// The node agent's ring buffers are smaller than the sensor's defaults,
// which `trace` keeps. A BPF ring buffer is mapped into its reader twice
// over, all of it from the start: 16 MiB and 4 MiB were 40 MiB of the
// agent's RSS (and of its memory cgroup) on an idle node. While an agent
// runs, their size is not what bounds loss: the reader only decodes and
// passes on, so a ring holds only what arrives while the reader waits for
// a CPU, and a pipeline that falls behind loses at the queue, which keeps
// its size. While no agent runs (a restart), the pinned programs' judged
// ring holds every record of the enforced containers until the next agent
// reads it: 1 MiB was 12 s of two loops each forking a killed process
// every 20 ms (about 30 records of 116 bytes per pair of attempts, 87 KB/s),
// and agents took up to 15 s to start again on a loaded node; 2 MiB holds
// 24 s of that, for 2 MiB more of RSS (`make bench BENCH_ARGS=-memory`:
// 41.4 MiB idle, 42.7 MiB at 1 000 opens/s).
const (
	agentRingBufferSize       = 4 << 20
	agentJudgedRingBufferSize = 2 << 20
)

func defaultSensorConfig() sensor.Config {
	c := sensor.DefaultConfig()
	c.RingBufferSize = agentRingBufferSize
	c.JudgedRingBufferSize = agentJudgedRingBufferSize
	return c
}

// Validate checks the settings a typo would make fail later, naming the field.
func (c Config) Validate() error {
	var errs []error
	if c.Node == "" {
		errs = append(errs, errors.New("node name: must not be empty"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state dir: must not be empty"))
	}
	if c.DedupWindow <= 0 {
		errs = append(errs, fmt.Errorf("dedup window: must be positive, got %v", c.DedupWindow))
	}
	if c.SaveInterval <= 0 {
		errs = append(errs, fmt.Errorf("save interval: must be positive, got %v", c.SaveInterval))
	}
	if c.ProfileMaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("profile max bytes: must be positive, got %d", c.ProfileMaxBytes))
	}
	if err := c.Modes.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Inherit != "" {
		if _, err := profile.ParseInheritPolicy(string(c.Inherit)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Approval.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Approval.Action == approval.ActionEnforce && c.ContainerdSocket == "" {
		errs = append(errs, errors.New("approved images: enforce needs containerd (containerd socket)"))
	}
	if cc := c.Collector; cc.Address != "" {
		switch {
		case cc.CA == "":
			errs = append(errs, errors.New("collector: the CA is required"))
		case cc.JoinTokenFile != "" && (cc.Cert != "" || cc.Key != ""):
			errs = append(errs, errors.New("collector: a join token file or a client certificate, not both"))
		case cc.JoinTokenFile == "" && (cc.Cert == "" || cc.Key == ""):
			errs = append(errs, errors.New("collector: a client certificate and its key, or a join token file, are required"))
		}
		if cc.StatusInterval <= 0 {
			errs = append(errs, fmt.Errorf("collector status interval: must be positive, got %v", cc.StatusInterval))
		}
	}
	return errors.Join(errs...)
}

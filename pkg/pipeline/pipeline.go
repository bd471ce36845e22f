// Package pipeline builds the node's event pipeline, the one `vigil-agent
// run` and `vigil-agent trace` share, in the order its parts depend on each
// other: the host's mount namespace; the sensor, with enforcement's
// programs when the node enforces; the process table, seeded once the
// programs are attached so that no process falls between; container
// attribution; the enricher; and the loop that receives every event.
package pipeline

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Config says what the pipeline observes and whether it enforces.
type Config struct {
	// ProcRoot is the host's procfs.
	ProcRoot string
	// Sensor says what is traced; its HostMntNS and ProcRoot are set here.
	Sensor sensor.Config
	// CgroupPaths are cgroup2 paths (as in /proc/<pid>/cgroup) whose ids
	// join Sensor.Cgroups, the kernel's cgroup filter list.
	CgroupPaths []string
	// Enforce, when set, loads enforcement's programs with the sensor's and
	// puts the node's enforcement (enforce.Controller) between the kernel
	// and container attribution. What the kernel runs (LSM, connect guard),
	// the cgroup2 mount, the procfs and the host's mount namespace are
	// filled in here.
	Enforce *enforce.KernelConfig
	// ContainerdSocket is containerd's socket; "" attributes every event
	// to the host.
	ContainerdSocket string
	// Processes bounds the process table.
	Processes int
}

// Pipeline is the node's event pipeline, built and attached. Run receives
// its events; Close releases it.
type Pipeline struct {
	log         *zap.Logger
	sensor      *sensor.Sensor
	enforcement *enforce.Controller // nil when observing only
	processes   *process.Table
	resolver    *containers.Resolver // nil without containerd
	enricher    *enrich.Enricher
	processed   prometheus.Counter

	closeOnce sync.Once
	closeErr  error
}

// New builds the pipeline; its metrics go to reg. On error nothing stays
// loaded or open.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (_ *Pipeline, err error) {
	p := &Pipeline{log: log, processed: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_pipeline_events_processed_total",
		Help: "Events the pipeline has finished with; with the sensor's loss counters, what the kernel wrote is accounted for.",
	})}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	hostNS, err := runtimeMountNamespace(cfg, log)
	if err != nil {
		return nil, err
	}
	sc := cfg.Sensor
	sc.HostMntNS, sc.ProcRoot = hostNS, cfg.ProcRoot
	cgroupRoot, err := cgroupFilter(&sc, cfg, log)
	if err != nil {
		return nil, err
	}

	var kc enforce.KernelConfig
	var probes enforce.Probes
	if cfg.Enforce != nil {
		kc = *cfg.Enforce
		kc.CgroupRoot, kc.ProcRoot, kc.HostMntNS = cgroupRoot, cfg.ProcRoot, hostNS
		kc, probes = kc.ForThisNode()
		if kc.PinDir != "" {
			if sc.Previous, err = enforce.PreviousMaps(kc.PinDir); err != nil {
				return nil, err
			}
		}
		if p.sensor, err = sensor.New(sc, log, kc.Programs()); err != nil {
			return nil, fmt.Errorf("start sensor: %w", err)
		}
	} else if p.sensor, err = sensor.New(sc, log); err != nil {
		return nil, fmt.Errorf("start sensor: %w", err)
	}
	for _, c := range []prometheus.Collector{p.sensor.Collector(), p.processed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register pipeline metrics: %w", err)
		}
	}
	var scopes containers.ScopeTable
	if cfg.Enforce != nil {
		if p.enforcement, err = enforce.NewController(p.sensor.Objects(), kc, probes, log, reg); err != nil {
			return nil, err
		}
		scopes = p.enforcement.Scopes()
	}

	p.processes = process.NewTable(cfg.Processes, 5*time.Second, hostNS)
	// Seeded once the programs are attached: a process started while they
	// loaded is in procfs now, and any later one arrives as events.
	if err := p.processes.Seed(cfg.ProcRoot, cgroupRoot); err != nil {
		log.Warn("seed process table", zap.Error(err))
	}

	var attributor enrich.Attributor
	if cfg.ContainerdSocket != "" {
		var hosts containers.HostCgroups
		if sc.ContainedOnly {
			// The kernel then keeps the behaviour of sandboxed host
			// services in the cgroups attribution finds to be the host's.
			hosts = p.sensor.HostCgroups()
		}
		p.resolver, err = containers.New(containers.Config{Socket: cfg.ContainerdSocket, Logger: log, Registerer: reg,
			Scopes: scopes, HostCgroups: hosts, ProcRoot: cfg.ProcRoot})
		if err != nil {
			return nil, fmt.Errorf("start container attribution: %w", err)
		}
		attributor = p.resolver
	} else {
		log.Info("no containerd socket: every event is attributed to the host")
	}
	p.enricher = enrich.NewEnricher(p.processes, attributor)
	return p, nil
}

// runtimeMountNamespace is the mount namespace the kernel and the process
// table take for the host's: containerd's, where runc's init execs before it
// enters a container's, so that a container's setup is never taken for its
// workload. Without containerd at start it is the node's initial mount
// namespace, where containerd runs on a node; a containerd started later in
// another is not followed until the agent restarts.
func runtimeMountNamespace(cfg Config, log *zap.Logger) (uint32, error) {
	initial, err := procfs.HostMountNamespace(cfg.ProcRoot)
	if err != nil {
		return 0, fmt.Errorf("host mount namespace (vigil needs the host's pid namespace): %w", err)
	}
	if cfg.ContainerdSocket == "" {
		return initial, nil
	}
	runtime, err := containers.RuntimeMountNamespace(cfg.ContainerdSocket, cfg.ProcRoot)
	if err != nil {
		// Where containerd has a namespace of its own, runc's setup of new
		// containers is then attributed to the host and learned.
		log.Warn("containerd's mount namespace is not known: the node's initial one is taken for the runtime's",
			zap.Uint32("mntns", initial), zap.Error(err))
		return initial, nil
	}
	if runtime != initial {
		log.Info("containerd runs in a mount namespace of its own: it is taken for the runtime's",
			zap.Uint32("mntns", runtime), zap.Uint32("initial_mntns", initial))
	}
	return runtime, nil
}

// cgroupFilter finds the cgroup2 mount and adds the ids of cfg's cgroup
// paths to sc's filter list. Without a cgroup2 mount, processes are seeded
// without cgroup ids and no path can be filtered on.
func cgroupFilter(sc *sensor.Config, cfg Config, log *zap.Logger) (string, error) {
	cgroups, err := cgroup.Open("", cfg.ProcRoot)
	if err != nil {
		if len(cfg.CgroupPaths) > 0 {
			return "", fmt.Errorf("cgroup filters need a cgroup2 mount: %w", err)
		}
		log.Warn("no cgroup2 mount: processes seeded without cgroup ids", zap.Error(err))
		return "", nil
	}
	defer cgroups.Close()
	sc.Cgroups = append([]uint64(nil), sc.Cgroups...)
	for _, path := range cfg.CgroupPaths {
		id, err := cgroups.ID(path)
		if err != nil {
			return "", fmt.Errorf("cgroup filter %q: %w", path, err)
		}
		sc.Cgroups = append(sc.Cgroups, id)
	}
	return cgroups.Mountpoint(), nil
}

// Sensor is the pipeline's sensor.
func (p *Pipeline) Sensor() *sensor.Sensor { return p.sensor }

// Enforcement is the node's enforcement; nil when the pipeline observes only.
func (p *Pipeline) Enforcement() *enforce.Controller { return p.enforcement }

// Processes is the process table.
func (p *Pipeline) Processes() *process.Table { return p.processes }

// Resolver is container attribution; nil without containerd.
func (p *Pipeline) Resolver() *containers.Resolver { return p.resolver }

// Enricher turns the pipeline's events into records.
func (p *Pipeline) Enricher() *enrich.Enricher { return p.enricher }

// Close releases everything New built. Safe to call more than once.
func (p *Pipeline) Close() error {
	p.closeOnce.Do(func() {
		var errs []error
		if p.sensor != nil {
			errs = append(errs, p.sensor.Close())
		}
		if p.resolver != nil {
			errs = append(errs, p.resolver.Close())
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

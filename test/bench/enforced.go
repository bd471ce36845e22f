package main

import (
	"context"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

const benchScope = 1

// enforcedAllowAll enforces, on the loop's cgroup, a profile that allows
// everything: every hook is judged (signal tier for exec and capabilities,
// cgroup programs for connects, the fanotify listener for opens), nothing is
// refused. The agent's kernel side and listener run in this process; its
// events are read and decoded.
func enforcedAllowAll() condition {
	return profiled("enforced allow-all", profile.ModeEnforce,
		"sensor + enforce (signal, cgroup, fanotify tiers) in the bench process, allow-all profile in enforce mode")
}

// monitoredAllowAll monitors the loop's cgroup with a profile that allows
// everything: the kernel decides each open, connect and capability use is
// known and keeps it (only execs, which the process table needs, and news
// leave the kernel).
func monitoredAllowAll() condition {
	return profiled("monitored allow-all", profile.ModeMonitor,
		"sensor in the bench process, allow-all profile in monitor mode (allowed events stay in the kernel)")
}

// learning learns the loop's cgroup: an open it repeats within the learn
// window stays in the kernel, counted; execs and news leave it.
func learning() condition {
	return profiled("learning", profile.ModeLearn,
		"sensor + enforcer in the bench process, the loop's cgroup in learn mode (repeated opens counted in the kernel)")
}

func profiled(name string, mode profile.Mode, command string) condition {
	return condition{
		name:    name,
		command: command,
		start: func(b *bench) (environment, error) {
			// The bench plays the container runtime: it starts the contained child.
			hostNS, err := procfs.MountNamespace(procfs.DefaultRoot, uint32(os.Getpid()))
			if err != nil {
				return nil, err
			}
			root, err := cgroup.Mountpoint(procfs.DefaultRoot)
			if err != nil {
				return nil, err
			}
			cfg := sensor.DefaultConfig()
			cfg.Types = sensor.NewTypeSet(sensor.TypeExec, sensor.TypeOpen, sensor.TypeConnect, sensor.TypeCapability)
			cfg.CgroupFilter, cfg.Cgroups = sensor.FilterInclude, []uint64{b.cgroupID}
			cfg.HostMntNS = hostNS
			kcfg := enforce.DefaultKernelConfig()
			kcfg.GuardConnect, kcfg.CgroupRoot, kcfg.HostMntNS = true, root, hostNS
			s, err := sensor.New(cfg, zap.NewNop(), kcfg.Programs())
			if err != nil {
				return nil, err
			}
			env := &inProcess{sensor: s}
			k, err := enforce.NewKernel(s.Objects(), kcfg, zap.NewNop())
			if err != nil {
				env.stop()
				return nil, err
			}
			go func() {
				for range sensor.Merged(s) {
				}
			}()
			reg := prometheus.NewRegistry()
			if env.enforcer, err = enforce.New(k.Policy(), enforce.HookExec|enforce.HookConnect|enforce.HookCapability, zap.NewNop(), reg); err != nil {
				env.stop()
				return nil, err
			}
			if err := k.Scopes().Set(b.cgroupID, benchScope); err != nil {
				env.stop()
				return nil, err
			}
			if err := env.enforcer.Apply(&containers.Container{ID: "bench", Scope: benchScope}, mode, allowAll()); err != nil {
				env.stop()
				return nil, err
			}
			if mode != profile.ModeEnforce {
				return env, nil
			}
			allow := func(enforce.OpenQuery) enforce.OpenAnswer {
				return enforce.OpenAnswer{Enforced: true, Allowed: true, Cacheable: true}
			}
			if env.fanotify, err = enforce.NewFanotify(allow, procfs.DefaultRoot, hostNS, zap.NewNop(), reg); err != nil {
				env.stop()
				return nil, err
			}
			ctx, cancel := context.WithCancel(context.Background())
			env.cancel = cancel
			go env.fanotify.Run(ctx)
			return env, nil
		},
	}
}

func allowAll() *profile.Profile {
	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeEnforce}}
	p.Spec.Executables = []profile.ExecEntry{{Path: "/**"}}
	p.Spec.Files = []profile.FileEntry{{Path: "/**", Access: profile.AccessReadWrite}}
	for _, prefix := range []string{"0.0.0.0/0", "::/0"} {
		for _, proto := range []profile.Protocol{profile.TCP, profile.UDP} {
			p.Spec.Network = append(p.Spec.Network, profile.NetworkEntry{Prefix: netip.MustParsePrefix(prefix), Ports: profile.AnyPort, Protocol: proto})
		}
	}
	for c := profile.Capability(0); c <= profile.MaxCapability; c++ {
		p.Spec.Capabilities = append(p.Spec.Capabilities, profile.CapabilityEntry{Capability: c})
	}
	return p
}

type inProcess struct {
	sensor   *sensor.Sensor
	enforcer *enforce.Enforcer
	fanotify *enforce.Fanotify
	cancel   context.CancelFunc
}

func (e *inProcess) prepare(pid int) error {
	if e.fanotify == nil {
		return nil
	}
	return e.fanotify.Mark(benchScope, uint32(pid), true) // the loop child exec'd in a mount namespace of its own
}

func (e *inProcess) sample() (sample, error) {
	st, err := e.sensor.Stats()
	if err != nil {
		return sample{}, err
	}
	var s sample
	for _, t := range sensor.AllTypes {
		s.delivered += st.Delivered[t]
		s.lost += st.Lost(t)
		s.kernel += st.Emitted[t] + st.LostRingBuffer[t]
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return s, nil
}

func (e *inProcess) settle(before sample) (sample, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := e.sample()
		if err != nil || s.delivered+s.lost >= s.kernel || time.Now().After(deadline) {
			return s, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *inProcess) stop() error {
	if e.cancel != nil {
		e.cancel()
	}
	if e.enforcer != nil {
		e.enforcer.Forget(benchScope)
	}
	return e.sensor.Close()
}

package main

import (
	"fmt"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// mapRow is the kernel's policy memory for many containers.
type mapRow struct {
	Containers int    `json:"containers"`
	Entries    int    `json:"profile_entries_each"`
	Map        string `json:"map"`
	MapEntries int    `json:"map_entries"`
	Bytes      uint64 `json:"bytes"`
	Command    string `json:"command"`
}

// policyMemory compiles `containers` distinct profiles of `entries` entries
// each (60% files, 30% executables, 10% network destinations) into the
// kernel's maps and reports their entries and memory.
func policyMemory(containerCount, entries int) ([]mapRow, error) {
	cfg := sensor.DefaultConfig()
	cfg.Types = sensor.NewTypeSet(sensor.TypeExec)
	cfg.CgroupFilter = sensor.FilterInclude // trace nothing: only the maps matter
	kcfg := enforce.DefaultKernelConfig()
	s, err := sensor.New(cfg, zap.NewNop(), kcfg.Programs())
	if err != nil {
		return nil, err
	}
	defer s.Close()
	k, err := enforce.NewKernel(s.Objects(), kcfg, zap.NewNop())
	if err != nil {
		return nil, err
	}
	e, err := enforce.New(k.Policy(), enforce.HookExec|enforce.HookConnect|enforce.HookCapability, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	for i := range containerCount {
		p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeEnforce}}
		for j := range entries {
			switch {
			case j%10 < 6:
				p.Spec.Files = append(p.Spec.Files, profile.FileEntry{Path: fmt.Sprintf("/srv/app%d/data/file%d", i, j), Access: profile.AccessRead})
			case j%10 < 9:
				p.Spec.Executables = append(p.Spec.Executables, profile.ExecEntry{Path: fmt.Sprintf("/usr/bin/tool%d-%d", i, j)})
			default:
				addr := netip.AddrFrom4([4]byte{10, byte(i), byte(j >> 8), byte(j)})
				p.Spec.Network = append(p.Spec.Network, profile.NetworkEntry{Prefix: netip.PrefixFrom(addr, 32),
					Ports: profile.SinglePort(443), Protocol: profile.TCP})
			}
		}
		if err := e.Apply(&containers.Container{ID: fmt.Sprint(i), Scope: uint32(i + 1)}, profile.ModeEnforce, p); err != nil {
			return nil, err
		}
	}
	usage, err := k.PolicyMapUsage()
	if err != nil {
		return nil, err
	}
	var rows []mapRow
	for _, u := range usage {
		rows = append(rows, mapRow{Containers: containerCount, Entries: entries, Map: u.Name, MapEntries: u.Entries, Bytes: u.Bytes,
			Command: fmt.Sprintf("%d profiles of %d entries compiled into the kernel's maps (in the bench process)", containerCount, entries)})
	}
	return rows, nil
}

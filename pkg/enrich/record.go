// Package enrich turns the sensor's events into the pipeline's record: an
// event with its process and ancestry (from the process table) and its
// container (from the attributor). Every stage after it — policy, alerts,
// the trace output — reads the record through its typed fields and methods,
// never the sensor's flag bits.
package enrich

import (
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// Record is an event with what the agent knows around it.
type Record struct {
	Event *sensor.Event
	// Process is the event's process as the process table knows it (its
	// executable and argv); only PID is set when the table does not know it.
	Process     process.Process
	Ancestry    []process.Process // parent first
	Attribution containers.Attribution
}

// Enforcement is what the kernel did to the action an event reports.
type Enforcement uint8

// The kernel's actions.
const (
	NotEnforced Enforcement = iota // it let the action happen
	Killed                         // the signal tier killed the process
	Denied                         // the action failed (LSM, cgroup tiers)
)

// String is "killed", "denied", or "" when the action went through.
func (e Enforcement) String() string {
	switch e {
	case Killed:
		return "killed"
	case Denied:
		return "denied"
	}
	return ""
}

// Enforcement is what the kernel did to the event's action.
func (r *Record) Enforcement() Enforcement {
	switch {
	case r.Event.Flags.Has(sensor.FlagKilled):
		return Killed
	case r.Event.Flags.Has(sensor.FlagDenied):
		return Denied
	}
	return NotEnforced
}

// PathTruncated reports whether the event's path was longer than the
// kernel buffer: only its last components are known.
func (r *Record) PathTruncated() bool { return r.Event.Flags.Has(sensor.FlagPathTruncated) }

// PathUnresolved reports whether a failed open's path is the name it was
// given joined to its directory, not a file's path (there is no file).
func (r *Record) PathUnresolved() bool { return r.Event.Flags.Has(sensor.FlagPathUnresolved) }

// PathDetached reports whether the file is on a mount detached from every
// namespace (umount -l): its path is relative to its filesystem's root.
func (r *Record) PathDetached() bool { return r.Event.Flags.Has(sensor.FlagPathDetached) }

// CompatSyscall reports whether the system call was a 32-bit one.
func (r *Record) CompatSyscall() bool { return r.Event.Flags.Has(sensor.FlagCompatSyscall) }

var execFlagNames = []struct {
	flag sensor.Flags
	name string
}{
	{sensor.FlagMemfd, "memfd"},
	{sensor.FlagDeleted, "deleted"},
	{sensor.FlagUpperLayer, "upper_layer"},
	{sensor.FlagPathTruncated, "path_truncated"},
	{sensor.FlagArgvTruncated, "argv_truncated"},
	{sensor.FlagPathDetached, "path_detached"},
}

// ExecFlags names what qualifies an exec (memfd, deleted, upper_layer,
// path_truncated, argv_truncated, path_detached); never nil.
func (r *Record) ExecFlags() []string { return r.AppendExecFlags([]string{}) }

// AppendExecFlags appends the names ExecFlags gives, so that a caller on a
// hot path can reuse one slice.
func (r *Record) AppendExecFlags(names []string) []string {
	for _, f := range execFlagNames {
		if r.Event.Flags.Has(f.flag) {
			names = append(names, f.name)
		}
	}
	return names
}

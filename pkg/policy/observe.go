package policy

import (
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// skip says why an event is not an observation; "" when it is one.
type skip string

// Why events of a container are not matched against its profile.
const (
	skipNone          skip = ""
	skipNotPolicy     skip = "not_policy_type"     // fork, exit
	skipFailedLookup  skip = "failed_lookup"       // an open of a file that is not there
	skipPathOnly      skip = "o_path"              // an O_PATH open reads nothing
	skipTruncated     skip = "path_truncated"      // the path is not whole
	skipUnresolved    skip = "path_unresolved"     // a failed open with a relative name the kernel could not anchor
	skipFamily        skip = "family"              // a connect neither inet nor unix
	skipProtocol      skip = "protocol"            // an inet connect neither tcp nor udp
	skipNoDestination skip = "no_destination"      // connect(AF_UNSPEC) and the like
	skipCapRefused    skip = "capability_refused"  // a check the kernel refused: nothing was used
	skipCapUnjudged   skip = "capability_unjudged" // sensor.UnjudgedCapabilities
)

// observation turns an event into what a profile allows or a draft learns.
func observation(rec *enrich.Record) (profile.Observation, skip) {
	ev := rec.Event
	o := profile.Observation{Time: ev.Time}
	why := skipNone
	switch ev.Type {
	case sensor.TypeExec:
		o.Kind, o.Path = profile.KindExec, ev.Exec.Path
		o.Written = ev.Flags&(sensor.FlagUpperLayer|sensor.FlagMemfd|sensor.FlagDeleted) != 0
		o.Applet = profile.Applet(ev.Exec.Argv, ev.Flags.Has(sensor.FlagArgvTruncated))
	case sensor.TypeOpen:
		o, why = openObservation(ev, o)
	case sensor.TypeConnect:
		o, why = connectObservation(ev, o)
	case sensor.TypeCapability:
		o.Kind, o.Capability = profile.KindCapability, profile.Capability(ev.Capability.Cap)
		o.Repeats = uint64(ev.Capability.Repeats)
		why = capabilitySkip(ev)
	case sensor.TypeIoUring:
		o.Kind, o.IoUring = profile.KindIoUring, profile.IoUringOp(ev.IoUring.Op)
		o.Repeats = uint64(ev.IoUring.Repeats)
	default:
		return o, skipNotPolicy
	}
	if rec.PathTruncated() {
		return o, skipTruncated
	}
	return o, why
}

// KernelVerdict describes what the kernel refused or killed for a reason
// Evaluate does not judge (a path too long to match, say), so that the
// action is still reported with what it was about.
func KernelVerdict(rec *enrich.Record) profile.Verdict {
	o, why := observation(rec)
	rule := "denied in the kernel"
	if why != skipNone {
		rule += " (" + string(why) + ")"
	}
	return profile.Verdict{Mode: profile.ModeEnforce, Observation: o, Rule: rule}
}

// openObservation keeps opens that reached a file: successful ones and
// those the file's permissions refused. An open of a name that does not
// exist is a lookup, not an access (and no kernel hook could deny it).
func openObservation(ev *sensor.Event, o profile.Observation) (profile.Observation, skip) {
	op := ev.Open
	o.Kind, o.Path, o.Image = profile.KindOpen, op.Path, ev.Flags.Has(sensor.FlagImage)
	if op.Ret < 0 && op.Ret != -int32(unix.EACCES) && op.Ret != -int32(unix.EPERM) {
		return o, skipFailedLookup
	}
	if op.Flags&unix.O_PATH != 0 {
		return o, skipPathOnly
	}
	if len(op.Path) == 0 || op.Path[0] != '/' {
		return o, skipUnresolved
	}
	o.Repeats = uint64(op.Repeats)
	o.Created = ev.Flags.Has(sensor.FlagCreated)
	o.Access = OpenAccess(op.Flags)
	return o, skipNone
}

// OpenAccess is the access an open with flags asks for, as profiles name it:
// read, write (with creation and truncation), or both.
func OpenAccess(flags sensor.OpenFlags) profile.Access {
	var a profile.Access
	if flags.Read() {
		a |= profile.AccessRead
	}
	if flags.Write() {
		a |= profile.AccessWrite
	}
	return a
}

func connectObservation(ev *sensor.Event, o profile.Observation) (profile.Observation, skip) {
	c := ev.Connect
	o.Kind = profile.KindConnect
	switch c.Family {
	case unix.AF_UNIX:
		if c.UnixPath == "" {
			return o, skipNoDestination
		}
		o.UnixPath = c.UnixPath
		return o, skipNone
	case unix.AF_INET, unix.AF_INET6:
	default:
		return o, skipFamily
	}
	switch c.Protocol {
	case unix.IPPROTO_TCP:
		o.Network.Protocol = profile.TCP
	case unix.IPPROTO_UDP:
		o.Network.Protocol = profile.UDP
	default:
		return o, skipProtocol
	}
	if !c.Addr.IsValid() {
		return o, skipNoDestination
	}
	o.Network.Addr, o.Network.Port = c.Addr.Unmap(), c.Port
	o.Repeats = uint64(c.Repeats)
	return o, skipNone
}

// capabilitySkip applies the capability hook's rule (bpf/lib/capability.h)
// to what it reported: a use counts when the kernel granted it, of a
// capability the hook judges. A refusal of vigil's own (BPF LSM, which sees
// the kernel's noaudit checks and judges every capability) is the workload
// trying to use one: it counts.
func capabilitySkip(ev *sensor.Event) skip {
	switch {
	case ev.Flags.Has(sensor.FlagDenied):
		return skipNone
	case !ev.Capability.Granted():
		return skipCapRefused
	case !sensor.CapabilityJudged(ev.Capability.Cap):
		return skipCapUnjudged
	}
	return skipNone
}

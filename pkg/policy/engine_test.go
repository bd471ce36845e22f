package policy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/draftstore"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"

var ctr = &containers.Container{ID: "c1", Image: "app:1", ImageDigest: digest, PodNamespace: "shop"}

func record(ev sensor.Event) *enrich.Record {
	ev.Time = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	return &enrich.Record{Event: &ev, Attribution: containers.Attribution{Kind: containers.InContainer, Container: ctr},
		Process: process.Process{PID: ev.PID, Contained: true}}
}

func execOf(path string) *enrich.Record {
	return record(sensor.Event{Type: sensor.TypeExec, PID: 5, Exec: sensor.Exec{Path: path}})
}

func openOf(path string, flags uint64, ret int32) *enrich.Record {
	return record(sensor.Event{Type: sensor.TypeOpen, PID: 5, Open: sensor.Open{Path: path, Flags: sensor.OpenFlags(flags), Ret: ret}})
}

// staticSource is a fixed set of profiles.
type staticSource map[string]*profile.Profile

func (s staticSource) Get(d string) (*profile.Profile, bool) { p, ok := s[d]; return p, ok }

func newEngine(t *testing.T, modes profile.ModePolicy, src ProfileSource) *Engine {
	t.Helper()
	e, err := New(Config{Node: "n1", Modes: modes, Profiles: src, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLearnThenMonitor(t *testing.T) {
	e := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, nil)
	for _, rec := range []*enrich.Record{execOf("/bin/app"), openOf("/etc/app.conf", unix.O_RDONLY, 3), execOf("/bin/app")} {
		v, ok := e.Evaluate(rec)
		if !ok || v.Mode != profile.ModeLearn || !v.Allowed {
			t.Fatalf("learning verdict = %+v, %v", v, ok)
		}
	}
	drafts := e.Drafts()
	if len(drafts) != 1 || drafts[0].Profile().Spec.Entries() != 2 {
		t.Fatalf("drafts = %d, want one with two entries", len(drafts))
	}

	learned := drafts[0].Profile()
	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeMonitor, 1
	e = newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, staticSource{digest: learned})
	if v, _ := e.Evaluate(openOf("/etc/app.conf", unix.O_RDONLY, 3)); !v.Allowed || v.Mode != profile.ModeMonitor {
		t.Errorf("a learned read is not allowed: %+v", v)
	}
	if v, _ := e.Evaluate(openOf("/etc/app.conf", unix.O_WRONLY, 3)); v.Allowed {
		t.Error("a write where only reads were learned is allowed")
	}
	if v, _ := e.Evaluate(execOf("/bin/sh")); v.Allowed || v.Rule == "" || v.Profile != learned {
		t.Errorf("an unlearned exec: %+v", v)
	}
}

// TestLearningCountsKernelRepeats learns an open the kernel reported with
// the repeats it kept: the draft counts them all.
func TestLearningCountsKernelRepeats(t *testing.T) {
	e := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, nil)
	open := openOf("/etc/app.conf", unix.O_RDONLY, 3)
	open.Event.Open.Repeats = 9
	chroot := record(sensor.Event{Type: sensor.TypeCapability, PID: 5,
		Capability: sensor.Capability{Cap: unix.CAP_SYS_CHROOT, Repeats: 4}})
	dial := record(sensor.Event{Type: sensor.TypeConnect, PID: 5, Connect: sensor.Connect{Family: unix.AF_INET,
		Addr: netip.MustParseAddr("10.0.0.10"), Port: 53, Protocol: unix.IPPROTO_UDP, Repeats: 2}})
	for _, rec := range []*enrich.Record{open, chroot, dial} {
		if v, ok := e.Evaluate(rec); !ok || !v.Allowed {
			t.Fatalf("learning verdict = %+v, %v", v, ok)
		}
	}
	p := e.Drafts()[0].Profile()
	if got := p.Spec.Files[0].Evidence.Count; got != 10 {
		t.Errorf("file evidence count = %d, want 10 (the report and its 9 repeats)", got)
	}
	if got := p.Spec.Network[0].Evidence.Count; got != 3 {
		t.Errorf("network evidence count = %d, want 3 (the report and its 2 repeats)", got)
	}
	if got := p.Spec.Capabilities[0].Evidence.Count; got != 5 {
		t.Errorf("capability evidence count = %d, want 5 (the report and its 4 repeats)", got)
	}
}

func TestWhatIsNotMatched(t *testing.T) {
	e := newEngine(t, profile.ModePolicy{Default: profile.ModeMonitor}, staticSource{})
	host := execOf("/bin/sh")
	host.Attribution = containers.Attribution{Kind: containers.Host}
	runtime := execOf("/usr/sbin/runc")
	runtime.Process.Contained = false
	unknown := execOf("/bin/sh")
	unknown.Attribution.Container = &containers.Container{ID: "c2", ImageDigest: containers.UnknownDigest}
	truncated := openOf("/very/long", unix.O_RDONLY, 3)
	truncated.Event.Flags = sensor.FlagPathTruncated
	for name, rec := range map[string]*enrich.Record{
		"the host":                    host,
		"runc setting a container up": runtime,
		"an image of unknown digest":  unknown,
		"a lookup of a missing file":  openOf("/etc/missing", unix.O_RDONLY, -int32(unix.ENOENT)),
		"an O_PATH open":              openOf("/etc", unix.O_PATH, 3),
		"a truncated path":            truncated,
	} {
		if v, ok := e.Evaluate(rec); ok {
			t.Errorf("%s was matched against a profile: %+v", name, v)
		}
	}
	if v, ok := e.Evaluate(openOf("/etc/shadow", unix.O_RDONLY, -int32(unix.EACCES))); !ok || v.Allowed {
		t.Errorf("a refused read of an existing file is no violation: %+v %v", v, ok)
	}
}

// TestOnlyCapabilityUsesCount applies the capability hook's rule to what
// it reports: a refused check and a granted check of a capability the hook
// cannot judge are neither learned nor judged; vigil's own refusal (BPF
// LSM) is judged, whatever the capability.
func TestOnlyCapabilityUsesCount(t *testing.T) {
	capOf := func(c, ret int32, flags sensor.Flags) *enrich.Record {
		return record(sensor.Event{Type: sensor.TypeCapability, PID: 5, Flags: flags, Capability: sensor.Capability{Cap: c, Ret: ret}})
	}
	learner := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, nil)
	for name, rec := range map[string]*enrich.Record{
		"a refused CAP_SYS_TIME":        capOf(unix.CAP_SYS_TIME, -int32(unix.EPERM), 0),
		"a refused CAP_DAC_READ_SEARCH": capOf(unix.CAP_DAC_READ_SEARCH, -int32(unix.EPERM), 0),
		"a granted CAP_SYS_ADMIN":       capOf(unix.CAP_SYS_ADMIN, 0, 0),
		"a granted CAP_SYS_PTRACE":      capOf(unix.CAP_SYS_PTRACE, 0, 0),
		"a killed use of CAP_NET_ADMIN": capOf(unix.CAP_NET_ADMIN, 0, sensor.FlagKilled),
	} {
		if v, ok := learner.Evaluate(rec); ok {
			t.Errorf("%s was learned: %+v", name, v)
		}
	}
	if v, ok := learner.Evaluate(capOf(unix.CAP_SYS_CHROOT, 0, 0)); !ok || !v.NewEntry {
		t.Fatalf("a granted CAP_SYS_CHROOT was not learned: %+v %v", v, ok)
	}
	if got := learner.Drafts()[0].Profile().Spec.Capabilities; len(got) != 1 || got[0].Capability != unix.CAP_SYS_CHROOT {
		t.Errorf("learned capabilities = %v, want only CAP_SYS_CHROOT", got)
	}

	monitor := newEngine(t, profile.ModePolicy{Default: profile.ModeMonitor}, staticSource{digest: &profile.Profile{}})
	if v, ok := monitor.Evaluate(capOf(unix.CAP_SYS_TIME, -int32(unix.EPERM), 0)); ok {
		t.Errorf("a refused check was judged: %+v", v)
	}
	if v, ok := monitor.Evaluate(capOf(unix.CAP_SYS_ADMIN, -int32(unix.EPERM), sensor.FlagDenied)); !ok || v.Allowed {
		t.Errorf("a CAP_SYS_ADMIN use BPF LSM refused is no violation: %+v %v", v, ok)
	}
}

func TestEnforceWithoutProfileMonitors(t *testing.T) {
	e := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn, Namespaces: map[string]profile.Mode{"shop": profile.ModeEnforce}}, staticSource{})
	v, ok := e.Evaluate(execOf("/bin/app"))
	if !ok || v.Mode != profile.ModeMonitor || v.Allowed || v.ModeReason == "" {
		t.Errorf("enforce without a profile = %+v, want monitor, a violation and the reason", v)
	}
}

func TestConnectObservations(t *testing.T) {
	tcp := record(sensor.Event{Type: sensor.TypeConnect, PID: 5, Connect: sensor.Connect{Family: unix.AF_INET6,
		Addr: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 443, Protocol: unix.IPPROTO_TCP}})
	o, why := observation(tcp)
	if why != skipNone || o.Network.Addr.String() != "10.0.0.1" || o.Network.Port != 443 || o.Network.Protocol != profile.TCP {
		t.Errorf("v4-mapped tcp connect → %+v (%s)", o, why)
	}
	sock := record(sensor.Event{Type: sensor.TypeConnect, PID: 5, Connect: sensor.Connect{Family: unix.AF_UNIX, UnixPath: "/run/app.sock"}})
	if o, why := observation(sock); why != skipNone || o.UnixPath != "/run/app.sock" {
		t.Errorf("unix connect → %+v (%s)", o, why)
	}
	icmp := record(sensor.Event{Type: sensor.TypeConnect, PID: 5, Connect: sensor.Connect{Family: unix.AF_INET,
		Addr: netip.MustParseAddr("10.0.0.1"), Protocol: unix.IPPROTO_ICMP}})
	if _, why := observation(icmp); why != skipProtocol {
		t.Errorf("icmp connect skipped for %q, want %q", why, skipProtocol)
	}
}

func TestLossMarksLearningDraftsIncomplete(t *testing.T) {
	e := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, nil)
	e.Evaluate(execOf("/bin/app"))
	e.MarkIncomplete("events lost", 7)
	p := e.Drafts()[0].Profile()
	if !p.Metadata.Learning.IsIncomplete() || p.Metadata.Learning.Incomplete[0].Count != 7 {
		t.Errorf("incomplete = %+v", p.Metadata.Learning.Incomplete)
	}
}

func TestDraftsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *Engine {
		store, err := draftstore.Open(dir, profile.Limits{}, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(Config{Node: "n1", Modes: profile.ModePolicy{Default: profile.ModeLearn}, Drafts: store, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	e.Evaluate(execOf("/bin/app"))
	if err := e.Save(); err != nil {
		t.Fatal(err)
	}
	e = open()
	if d := e.Drafts(); len(d) != 1 || d[0].Digest() != digest || d[0].Profile().Spec.Entries() != 1 {
		t.Fatalf("drafts after a restart = %v", d)
	}
}

// TestJudge decides for a container without an event: learning allows all,
// no profile allows nothing, and an open of unknown access (the fanotify
// tier's) is allowed when the profile lets it be read or written.
func TestJudge(t *testing.T) {
	p := &profile.Profile{Metadata: profile.Metadata{Digest: digest, Version: 1, Mode: profile.ModeEnforce}}
	p.Spec.Files = []profile.FileEntry{{Path: "/etc/app.conf", Access: profile.AccessRead}, {Path: "/var/log/app.log", Access: profile.AccessWrite}}
	open := func(path string, a profile.Access) profile.Observation {
		return profile.Observation{Kind: profile.KindOpen, Path: path, Access: a}
	}
	e := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, staticSource{digest: p})
	for _, tc := range []struct {
		o       profile.Observation
		allowed bool
	}{
		{open("/etc/app.conf", profile.AccessRead), true},
		{open("/etc/app.conf", profile.AccessWrite), false},
		{open("/etc/app.conf", 0), true},
		{open("/var/log/app.log", profile.AccessRead), false},
		{open("/var/log/app.log", 0), true},
		{open("/etc/shadow", 0), false},
		{profile.Observation{Kind: profile.KindExec, Path: "/bin/sh"}, false},
	} {
		v := e.Judge(ctr, tc.o)
		if v.Mode != profile.ModeEnforce || v.Profile != p || v.Allowed != tc.allowed || v.Rule == "" {
			t.Errorf("%s %s (access %d): %+v, want allowed=%v in enforce mode", tc.o.Kind, tc.o.Path, tc.o.Access, v, tc.allowed)
		}
	}
	learning := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, nil)
	if v := learning.Judge(ctr, open("/etc/shadow", 0)); v.Mode != profile.ModeLearn || !v.Allowed {
		t.Errorf("while learning: %+v, want allowed", v)
	}
	monitored := newEngine(t, profile.ModePolicy{Default: profile.ModeMonitor}, nil)
	if v := monitored.Judge(ctr, open("/etc/app.conf", profile.AccessRead)); v.Mode != profile.ModeMonitor || v.Allowed || v.Profile != nil {
		t.Errorf("monitored without a profile: %+v, want nothing allowed", v)
	}
	if n := len(learning.Drafts()); n != 0 {
		t.Errorf("judging while learning made %d drafts: only Evaluate learns", n)
	}
}

// TestIoUringLearnedThenJudged learns the io_uring operations a container
// used (the kernel's repeats counted) and judges them afterwards: an opcode
// the profile lists is allowed, another is a violation, and so is setting
// up a ring for an image whose profile never did.
func TestIoUringLearnedThenJudged(t *testing.T) {
	const opRead, opOpenat = 22, 18 // IORING_OP_READ, IORING_OP_OPENAT
	ring := func(op uint8, repeats uint32) *enrich.Record {
		return record(sensor.Event{Type: sensor.TypeIoUring, PID: 5, IoUring: sensor.IoUring{Op: op, Repeats: repeats}})
	}
	e := newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, nil)
	for _, rec := range []*enrich.Record{ring(sensor.IoUringSetup, 0), ring(opRead, 6)} {
		if v, ok := e.Evaluate(rec); !ok || !v.Allowed {
			t.Fatalf("learning verdict = %+v, %v", v, ok)
		}
	}
	learned := e.Drafts()[0].Profile()
	got := learned.Spec.IoUring
	if len(got) != 2 || got[0].Op != profile.IoUringOp(opRead) || got[0].Evidence.Count != 7 || got[1].Op != profile.IoUringSetup {
		t.Fatalf("learned io_uring = %+v, want READ (the report and its 6 repeats) and SETUP", got)
	}

	learned.Metadata.Mode, learned.Metadata.Version = profile.ModeMonitor, 1
	e = newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, staticSource{digest: learned})
	if v, _ := e.Evaluate(ring(opRead, 0)); !v.Allowed || v.Rule != "ioUring: READ" {
		t.Errorf("a learned opcode: %+v", v)
	}
	if v, _ := e.Evaluate(ring(opOpenat, 0)); v.Allowed || v.Rule != "no rule matched in ioUring" {
		t.Errorf("an unlearned opcode: %+v", v)
	}

	never := &profile.Profile{Metadata: profile.Metadata{Digest: digest, Mode: profile.ModeMonitor, Version: 1}}
	e = newEngine(t, profile.ModePolicy{Default: profile.ModeLearn}, staticSource{digest: never})
	if v, _ := e.Evaluate(ring(sensor.IoUringSetup, 0)); v.Allowed || v.Observation.IoUring != profile.IoUringSetup {
		t.Errorf("a ring set up where the profile never used io_uring: %+v", v)
	}
}

package enforce

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/policy"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// The cross-tier agreement tests hold every tier to the one judge: one
// table of observations goes through the monitor's decision (the policy
// engine evaluating the event the sensor would report) and through each
// enforcement tier's own — the fanotify listener's judge, and the kernel's
// compiled maps: what the signal tier kills, what the cgroup tier refuses,
// and what the kernel keeps to itself as already allowed. A tier that
// decides otherwise than the monitor fails the test. Where the compiler
// says it widened a hook (a pattern the kernel cannot match exactly), the
// kernel may allow more than the monitor on that hook, never less, and
// keeps none of the hook's events to itself.

const agreeDigest = "sha256:a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9"

// agreeCase is one observation: the event the sensor reports of it (what
// the monitor judges) and the shell command that does it in the container.
type agreeCase struct {
	name string
	ev   sensor.Event
	run  string
}

// agreeProfile is the profile every tier is asked about: exact patterns,
// children and subtrees of each list, names with runs of digits written
// {n}, "*" before the last component (once and twice), programs written at
// run time allowed in one subtree, and two applets of a multi-call binary
// (a copy of busybox in bin/multi); busybox is the container's shell and
// tools (its real path: /bin may be a link); port is the one port it may
// connect to; literal adds, on top, a pattern with a literal volatile
// component (which the kernel cannot tell from any other number) and one
// whose "*" lies on the paths of the other files' "*"s (which widens them).
func agreeProfile(busybox, dir string, port uint16, literal bool) *profile.Profile {
	p := &profile.Profile{Metadata: profile.Metadata{Digest: agreeDigest, Version: 1}}
	p.Spec.Executables = []profile.ExecEntry{{Path: busybox}, {Path: dir + "/bin/kids/*"}, {Path: dir + "/bin/tree/**", Written: true},
		{Path: dir + "/bin/run-{n}/tool"}, {Path: dir + "/bin/pg/*/bin/tool"},
		{Path: dir + "/bin/multi/busybox", As: "true"}, {Path: dir + "/bin/multi/busybox", As: "echo"}}
	p.Spec.Files = []profile.FileEntry{
		{Path: "/dev/null", Access: profile.AccessReadWrite},
		{Path: dir + "/data/read.txt", Access: profile.AccessRead},
		{Path: dir + "/data/write.log", Access: profile.AccessWrite},
		{Path: dir + "/conf/*", Access: profile.AccessRead},
		{Path: dir + "/tree/**", Access: profile.AccessReadWrite},
		{Path: dir + "/shm/seg.{n}", Access: profile.AccessReadWrite},
		{Path: dir + "/log/app-{n}-{n}-{n}.log", Access: profile.AccessWrite},
		{Path: dir + "/pg/*/data/file", Access: profile.AccessRead},
		{Path: dir + "/pg/*/log/*", Access: profile.AccessWrite},
		{Path: dir + "/srv/*/v/*/f", Access: profile.AccessRead},
		{Path: dir + "/bin/**", Access: profile.AccessRead}, // programs opened to be deleted, then run
	}
	p.Spec.Network = []profile.NetworkEntry{{Prefix: netip.MustParsePrefix("127.0.0.1/32"), Ports: profile.SinglePort(port), Protocol: profile.TCP},
		{Unix: dir + "/sock/ok.sock"}, {Unix: dir + "/sock/run/*"}, {Unix: dir + "/sock/app-{n}.sock"}, {Unix: "@" + filepath.Base(dir) + "-ok"}}
	// The unix connects' client (a copy of the test binary, as the helper)
	// is dynamically linked where cgo is on: its loader reads the libraries.
	p.Spec.Files = append(p.Spec.Files, profile.FileEntry{Path: "/usr/lib/**", Access: profile.AccessRead},
		profile.FileEntry{Path: "/etc/ld.so.cache", Access: profile.AccessRead})
	// No CAP_SYS_ADMIN, which the test's shell holds: the kernel's noaudit
	// checks of it whenever the shell maps memory (cap_vm_enough_memory)
	// are not uses, and no tier may kill or report them.
	// CAP_PERFMON and CAP_BPF: the unix connects' client, the test binary,
	// probes BPF as it starts (cilium/ebpf's rlimit package).
	p.Spec.Capabilities = []profile.CapabilityEntry{{Capability: unix.CAP_SYS_CHROOT},
		{Capability: unix.CAP_PERFMON}, {Capability: unix.CAP_BPF}}
	if literal {
		p.Spec.Executables = append(p.Spec.Executables, profile.ExecEntry{Path: dir + "/bin/v/42/tool"})
		p.Spec.Files = append(p.Spec.Files, profile.FileEntry{Path: dir + "/v/42/data", Access: profile.AccessRead},
			profile.FileEntry{Path: dir + "/shm/lit.20261206", Access: profile.AccessRead},
			profile.FileEntry{Path: dir + "/*/other/file", Access: profile.AccessRead})
	}
	return p
}

// agreeCases is the table: each kind of observation, allowed and not, by
// each kind of pattern. allowed and denied are two ports.
func agreeCases(dir string, allowed, denied uint16) []agreeCase {
	execOf := func(path string) agreeCase {
		ev := sensor.Event{Type: sensor.TypeExec, Exec: sensor.Exec{Path: path}}
		return agreeCase{"exec " + strings.TrimPrefix(path, dir), ev, path}
	}
	// A file with no link left is one written at run time, as one on the
	// container's writable layer or a memfd is.
	execDeleted := func(path string) agreeCase {
		ev := sensor.Event{Type: sensor.TypeExec, Flags: sensor.FlagDeleted, Exec: sensor.Exec{Path: path}}
		run := fmt.Sprintf("/bin/busybox sh -c 'exec 3<%s && /bin/busybox rm %s && exec /proc/self/fd/3'", path, path)
		return agreeCase{"exec deleted " + strings.TrimPrefix(path, dir), ev, run}
	}
	// The multi-call binary run as an applet, by a link's name (argv[0]) or
	// by naming the applet after it (argv[1]).
	applet := func(argv ...string) agreeCase {
		ev := sensor.Event{Type: sensor.TypeExec, Exec: sensor.Exec{Path: dir + "/bin/multi/busybox", Argv: argv}}
		return agreeCase{"exec " + strings.TrimPrefix(strings.Join(argv, " "), dir), ev, strings.Join(argv, " ")}
	}
	read := func(path string) agreeCase {
		ev := sensor.Event{Type: sensor.TypeOpen, Open: sensor.Open{Path: path, Flags: unix.O_RDONLY}}
		return agreeCase{"read " + strings.TrimPrefix(path, dir), ev, "/bin/busybox cat " + path}
	}
	write := func(path string) agreeCase {
		ev := sensor.Event{Type: sensor.TypeOpen, Open: sensor.Open{Path: path, Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_APPEND}}
		return agreeCase{"write " + strings.TrimPrefix(path, dir), ev, "/bin/busybox sh -c 'echo x >>" + path + "'"}
	}
	connect := func(port uint16) agreeCase {
		ev := sensor.Event{Type: sensor.TypeConnect, Connect: sensor.Connect{Family: unix.AF_INET,
			Addr: netip.MustParseAddr("127.0.0.1"), Port: port, Protocol: unix.IPPROTO_TCP, SockType: unix.SOCK_STREAM}}
		return agreeCase{fmt.Sprintf("connect %d", port), ev, fmt.Sprintf("/bin/busybox nc -w 1 127.0.0.1 %d </dev/null", port)}
	}
	// The helper's connect is refused (EPERM, printed) or the helper killed.
	unixConnect := func(path string) agreeCase {
		ev := sensor.Event{Type: sensor.TypeConnect, Connect: sensor.Connect{Family: unix.AF_UNIX, UnixPath: path, SockType: unix.SOCK_STREAM}}
		return agreeCase{"connect unix " + strings.TrimPrefix(path, dir), ev,
			fmt.Sprintf("%s=1 %s/bin/kids/unixc unix %s", helperEnv, dir, path)}
	}
	abstract := "@" + filepath.Base(dir)
	capability := func(c int32, run string) agreeCase {
		ev := sensor.Event{Type: sensor.TypeCapability, Capability: sensor.Capability{Cap: c}}
		return agreeCase{"capability " + sensor.CapabilityName(c), ev, run}
	}
	return []agreeCase{
		execOf(dir + "/bin/kids/tool"),
		execOf(dir + "/bin/kids/deeper/tool"),
		execOf(dir + "/bin/tree/a/b/tool"),
		execOf(dir + "/bin/other/tool"),
		execOf(dir + "/bin/v/99/tool"),
		execOf(dir + "/bin/run-20261206/tool"),
		execOf(dir + "/bin/run-12/tool"),
		execOf(dir + "/bin/pg/15/bin/tool"),
		execOf(dir + "/bin/pg/main/bin/tool"),
		execOf(dir + "/bin/pg/15/bin/evil"),
		execOf(dir + "/bin/pg/15/lib/tool"),
		execDeleted(dir + "/bin/kids/gone"),
		execDeleted(dir + "/bin/tree/a/gone"),
		applet(dir+"/bin/multi/busybox", "true"),
		applet(dir+"/bin/multi/busybox", "false"),
		applet(dir+"/bin/multi/busybox", "busybox", "echo", "x"),
		applet(dir + "/bin/multi/true"),
		applet(dir + "/bin/multi/false"),
		applet(dir + "/bin/multi/busybox"),
		read(dir + "/data/read.txt"),
		write(dir + "/data/read.txt"),
		write(dir + "/data/write.log"),
		read(dir + "/data/write.log"),
		read(dir + "/conf/app.conf"),
		read(dir + "/conf/sub/deep.conf"),
		write(dir + "/tree/a/b/out"),
		read(dir + "/secret"),
		read(dir + "/v/99/data"),
		read(dir + "/shm/seg.1004069810"),
		write(dir + "/shm/seg.2209941155"),
		read(dir + "/shm/seg.123"),
		read(dir + "/shm/other.1004069810"),
		read(dir + "/shm/lit.20270101"),
		write(dir + "/log/app-2026-12-06.log"),
		read(dir + "/log/app-2026-12-06.log"),
		write(dir + "/log/app-2026-12-06.log.1"),
		read(dir + "/pg/15/data/file"),
		read(dir + "/pg/main/data/file"),
		read(dir + "/pg/15/data/other"),
		read(dir + "/pg/15/lib/x"),
		write(dir + "/pg/main/log/a.log"),
		write(dir + "/pg/main/log/sub/b.log"),
		read(dir + "/srv/a/v/b/f"),
		read(dir + "/srv/a/v/b/g"),
		read(dir + "/srv/a/w/b/f"),
		connect(allowed),
		connect(denied),
		unixConnect(dir + "/sock/ok.sock"),
		unixConnect(dir + "/sock/bad.sock"),
		unixConnect(dir + "/sock/run/a.sock"),
		unixConnect(dir + "/sock/run/../bad.sock"),
		unixConnect(dir + "/sock/run//a.sock"),
		unixConnect(dir + "/sock/app-20261206.sock"),
		unixConnect(dir + "/sock/app-12.sock"),
		unixConnect(abstract + "-ok"),
		unixConnect(abstract + "-bad"),
		capability(unix.CAP_SYS_CHROOT, "/bin/busybox chroot / /bin/busybox true"),
		capability(unix.CAP_CHOWN, "/bin/busybox chown 1 "+dir+"/chown.me"),
	}
}

// staticJudgeSource is a fixed set of profiles for the policy engine.
type staticJudgeSource map[string]*profile.Profile

func (s staticJudgeSource) Get(d string) (*profile.Profile, bool) { p, ok := s[d]; return p, ok }

// newJudge is the one judge, with p in force in mode.
func newJudge(t testing.TB, p *profile.Profile, mode profile.Mode) *policy.Engine {
	t.Helper()
	e, err := policy.New(policy.Config{Node: "agree", Modes: profile.ModePolicy{Default: mode}, Profiles: staticJudgeSource{agreeDigest: p},
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// monitorAllows is the monitor's decision: the engine evaluating the event
// as the pipeline hands it over, from the container's workload.
func monitorAllows(t *testing.T, e *policy.Engine, ctr *containers.Container, ev sensor.Event) bool {
	t.Helper()
	rec := enrich.Record{Event: &ev, Attribution: containers.Attribution{Kind: containers.InContainer, Container: ctr},
		Process: process.Process{PID: ev.PID, Contained: true}}
	v, ok := e.Evaluate(&rec)
	if !ok {
		t.Fatalf("the monitor does not judge %+v", ev)
	}
	return v.Allowed
}

// monitorAllowsSomeAccess is the monitor's decision on an open for reading
// or for writing: the fanotify listener cannot tell them apart, so it must
// allow an open exactly when the monitor would allow one of them.
func monitorAllowsSomeAccess(t *testing.T, e *policy.Engine, ctr *containers.Container, ev sensor.Event) bool {
	t.Helper()
	for _, flags := range []sensor.OpenFlags{unix.O_RDONLY, unix.O_WRONLY} {
		ev.Open.Flags = flags
		if monitorAllows(t, e, ctr, ev) {
			return true
		}
	}
	return false
}

// TestFanotifyJudgeAgreesWithTheMonitor checks the fanotify tier's decision
// (no root needed): in enforce mode it refuses exactly the opens the
// monitor refuses, for the open's access when the listener can read it and
// for every access when it cannot; it caches only files the profile lets
// the container open for both; in monitor mode it enforces nothing.
func TestFanotifyJudgeAgreesWithTheMonitor(t *testing.T) {
	const dir = "/srv/agree"
	ctr := &containers.Container{ID: "agree", Image: "agree", ImageDigest: agreeDigest, Scope: 1}
	for _, mode := range []profile.Mode{profile.ModeMonitor, profile.ModeEnforce} {
		e := newJudge(t, agreeProfile("/bin/busybox", dir, 80, true), mode)
		for _, c := range agreeCases(dir, 80, 81) {
			if c.ev.Type != sensor.TypeOpen {
				continue
			}
			image := func() bool { return c.ev.Flags.Has(sensor.FlagImage) }
			told := OpenVerdict(e, ctr, OpenQuery{Path: c.ev.Open.Path, Image: image,
				Access: func() profile.Access { return policy.OpenAccess(c.ev.Open.Flags) }})
			want := mode != profile.ModeEnforce || monitorAllows(t, e, ctr, c.ev)
			if told.Enforced != (mode == profile.ModeEnforce) || told.Allowed != want {
				t.Errorf("%s, %s: fanotify enforced=%v allowed=%v; the monitor allows it: %v",
					mode, c.name, told.Enforced, told.Allowed, want)
			}
			untold := OpenVerdict(e, ctr, OpenQuery{Path: c.ev.Open.Path, Image: image, Access: func() profile.Access { return 0 }})
			if want := mode != profile.ModeEnforce || monitorAllowsSomeAccess(t, e, ctr, c.ev); untold.Allowed != want {
				t.Errorf("%s, %s, access not told: fanotify allowed=%v; the monitor allows it for some access: %v", mode, c.name, untold.Allowed, want)
			}
			if told.Cacheable {
				rw := c.ev
				rw.Open.Flags = unix.O_RDWR
				if !monitorAllows(t, e, ctr, rw) {
					t.Errorf("%s, %s: cached, but the profile does not let it be opened for reading and writing", mode, c.name)
				}
			}
		}
	}
}

// TestTiersAgree runs the table in a test container — a shell in a cgroup
// and a mount namespace of its own — under the real enforcement controller
// (the kernel's programs and maps, the tiers this machine has, the fanotify
// listener on the container's mounts), in monitor and in enforce mode, and
// compares what each tier did with what the monitor decides. Attribution is
// a static table (the test is about decisions; containerd's is tested in
// test/e2e). BPF LSM and fmod_ret programs do not load on this machine:
// TestTiersAgreeInVM runs the table on their tiers.
func TestTiersAgree(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name       string
		mode       profile.Mode
		literal    bool
		unixSignal bool
	}{
		{"monitor", profile.ModeMonitor, false, false},
		{"enforce", profile.ModeEnforce, false, false},
		{"monitor/widened", profile.ModeMonitor, true, false},
		{"enforce/widened", profile.ModeEnforce, true, false},
		// Kernels before 6.7 have no cgroup/connect_unix: its fallback, the
		// kill at the connect's exit, forced here (unix connects only).
		{"enforce/unix-signal", profile.ModeEnforce, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) { runAgreement(t, tc.mode, tc.literal, tc.unixSignal) })
	}
}

// TestTiersAgreeInVM runs TestTiersAgree's enforce cases in the test VM, on
// Debian's kernel with BPF LSM and without it (the fmod_ret tier, as on
// AKS's kernels).
func TestTiersAgreeInVM(t *testing.T) {
	testutil.RequireRoot(t)
	// The enforce cases only: monitor mode refuses nothing, whatever the
	// tier (capability reports at fexit/cap_capable are
	// TestCapabilityFexitInVM's), and the unix-signal case forces the kill
	// at the connect's exit, which neither tier changes. Each VM boot under
	// TCG holds a core: a full CI run shares the machine with other
	// packages' real-time tests.
	const run = "^TestTiersAgree$/^enforce$/^widened$"
	t.Run("lsm", func(t *testing.T) { testutil.RunInVM(t, ".", run, "TestTiersAgree") })
	t.Run("fmod_ret", func(t *testing.T) { testutil.RunInVMWith(t, testutil.NoBPFLSM, ".", run, "TestTiersAgree") })
}

// outcome is what a tier did to one case in the container.
type outcome struct {
	rc       int
	output   string
	reported bool // an event of it left the kernel
}

func (o outcome) killed() bool  { return o.rc == 128+int(unix.SIGKILL) }
func (o outcome) refused() bool { return strings.Contains(o.output, "not permitted") }

// isUnix reports whether a case is a unix connect.
func (c agreeCase) isUnix() bool {
	return c.ev.Type == sensor.TypeConnect && c.ev.Connect.Family == unix.AF_UNIX
}

// serveUnix listens on the unix sockets of the table's cases and copies
// the test binary to where they run it from (an executable the profile
// allows).
func serveUnix(t *testing.T, dir string, cases []agreeCase) {
	t.Helper()
	if err := os.MkdirAll(dir+"/sock/run", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if p := c.ev.Connect.UnixPath; c.isUnix() && p == filepath.Clean(p) {
			testutil.ListenUnix(t, p)
		}
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/bin/kids/unixc", self, 0o755); err != nil {
		t.Fatal(err)
	}
}

func runAgreement(t *testing.T, mode profile.Mode, literal, unixSignal bool) {
	dir := plainTempDir(t)
	allowedAddr, deniedAddr := testutil.ListenLoopback(t), testutil.ListenLoopback(t)
	busybox, err := filepath.EvalSymlinks("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	p := agreeProfile(busybox, dir, uint16(allowedAddr.Port), literal)
	cases := agreeCases(dir, uint16(allowedAddr.Port), uint16(deniedAddr.Port))
	if unixSignal {
		cases = slices.DeleteFunc(cases, func(c agreeCase) bool { return !c.isUnix() })
	}
	layOut(t, dir)
	serveUnix(t, dir, cases)

	world := startWorldWith(t, mode, p, nil, func(k *KernelConfig) { k.GuardUnix = k.GuardUnix && !unixSignal })
	if unixSignal && world.tier("connect_unix") != TierSignal {
		t.Fatalf("unix connects are enforced on the %s tier, want the signal tier", world.tier("connect_unix"))
	}
	results := make([]outcome, len(cases))
	for i, c := range cases {
		results[i].rc, results[i].output = world.shell.run(t, c.run)
	}
	events := world.settle(t)
	for i, c := range cases {
		results[i].reported = slices.ContainsFunc(events, func(ev sensor.Event) bool { return sameObservation(ev, c.ev) })
	}

	compiled := compile(p)
	t.Logf("widened by the compiler: %q", compiled.widened)
	// Only literal volatile names widen paths: the kernel matches every
	// other pattern, "*" before the last component too, as the profile says.
	exact := map[sensor.Type]bool{
		sensor.TypeExec:       !literal,
		sensor.TypeOpen:       !literal,
		sensor.TypeConnect:    compiled.exact&HookConnect != 0,
		sensor.TypeCapability: compiled.exact&HookCapability != 0,
	}
	execExact := len(compile(&profile.Profile{Spec: profile.Spec{Executables: p.Spec.Executables}}).widened) == 0
	if execExact != exact[sensor.TypeExec] || (compiled.exact&HookOpen != 0) != exact[sensor.TypeOpen] {
		t.Errorf("the compiler says executables exact: %v, opens exact: %v; want %v", execExact, compiled.exact&HookOpen != 0, !literal)
	}
	capabilityUnseen := capabilityHookErr(world.ctl.Kernel().objs)
	tiers := map[string]Tier{}
	for _, ht := range world.ctl.Tiers() {
		tiers[ht.Hook] = ht.Tier
	}
	if unixTier := tiers["connect_unix"]; unixTier != TierCgroup && unixTier != TierSignal {
		t.Errorf("unix connects are enforced on tier %q, want cgroup (Linux 6.7+) or signal", unixTier)
	}
	for i, c := range cases {
		got, allowed, exact := results[i], monitorAllows(t, world.judge, world.ctr, c.ev), exact[c.ev.Type]
		disagree := func(tier, did string, v bool) {
			t.Errorf("%s: the monitor allows it: %v; the %s tier %s it: %v (rc %d, %q, exact %v)",
				c.name, allowed, tier, did, v, got.rc, got.output, exact)
		}
		// BPF LSM and fmod_ret refuse exec, open, connect and capabilities
		// with EPERM; an applet, judged after its exec, is killed on every
		// tier.
		inKernel := func(hook string) bool { return tiers[hook] == TierLSM || tiers[hook] == TierModReturn }
		switch c.ev.Type {
		case sensor.TypeExec:
			stopped := got.killed() || (inKernel("exec") && got.refused())
			if !agrees(!stopped, allowed, exact, mode, tiers["exec"] == TierSignal || inKernel("exec")) {
				disagree(string(tiers["exec"]), "stopped", stopped)
			}
		case sensor.TypeOpen:
			if inKernel("open") {
				if !agrees(!got.refused(), allowed, exact, mode, true) {
					disagree(string(tiers["open"]), "refused", got.refused())
				}
			} else if got.refused() != (mode == profile.ModeEnforce && tiers["open"] == TierFanotify && !allowed) {
				disagree("fanotify", "refused", got.refused())
			}
		case sensor.TypeConnect:
			if c.isUnix() {
				agreeUnix(t, c, got, allowed, mode, tiers["connect_unix"], events)
				continue
			}
			if !agrees(!got.refused(), allowed, exact, mode, tiers["connect"] == TierCgroup || inKernel("connect")) {
				disagree(string(tiers["connect"]), "refused", got.refused())
			}
		case sensor.TypeCapability:
			stopped := got.killed() || (inKernel("capability") && got.refused())
			if !agrees(!stopped, allowed, exact, mode, tiers["capability"] == TierSignal || inKernel("capability")) {
				disagree(string(tiers["capability"]), "stopped", stopped)
			}
		}
		// Execs are never kept in the kernel: the process table needs them.
		// Where neither fexit/cap_capable nor the cap_capable tracepoint
		// loads, capabilities are enforced, never reported unless refused.
		unseen := c.ev.Type == sensor.TypeCapability && capabilityUnseen != nil && !got.refused()
		if c.ev.Type != sensor.TypeExec && !unseen && !agreesToReport(got.reported, allowed, exact) {
			disagree("kernel's maps", "reported", got.reported)
		}
	}
}

// agreeUnix checks a unix connect: the tier in force refuses (cgroup) or
// kills (signal) exactly what the monitor does not allow, in enforce mode
// only, and every unix connect is reported — a stopped one flagged so, which
// makes its alert say so.
func agreeUnix(t *testing.T, c agreeCase, got outcome, allowed bool, mode profile.Mode, tier Tier, events []sensor.Event) {
	t.Helper()
	stopped := mode == profile.ModeEnforce && !allowed
	refused, killed := got.refused(), got.killed()
	want := sensor.Flags(0)
	switch {
	case stopped && tier == TierCgroup:
		want = sensor.FlagDenied
	case stopped && tier == TierSignal:
		want = sensor.FlagKilled
	}
	if refused != (want == sensor.FlagDenied) || killed != (want == sensor.FlagKilled) ||
		(!stopped && !strings.Contains(got.output, "ok")) {
		t.Errorf("%s: the monitor allows it: %v; on the %s tier in %s mode it was refused: %v, killed: %v (rc %d, %q)",
			c.name, allowed, tier, mode, refused, killed, got.rc, got.output)
	}
	i := slices.IndexFunc(events, func(ev sensor.Event) bool { return sameObservation(ev, c.ev) })
	switch {
	case i < 0:
		t.Errorf("%s: not reported", c.name)
	case events[i].Flags&(sensor.FlagDenied|sensor.FlagKilled) != want:
		t.Errorf("%s: reported with flags %v, want denied/killed %v", c.name, events[i].Flags, want)
	}
}

// agrees reports whether a tier that let an action through (passed) agrees
// with the monitor's decision: in enforce mode, where the tier is in force,
// it passes exactly what the monitor allows (more where the compiler
// widened the hook, never less); otherwise it passes everything.
func agrees(passed, allowed, exact bool, mode profile.Mode, inForce bool) bool {
	switch {
	case mode != profile.ModeEnforce || !inForce:
		return passed
	case exact:
		return passed == allowed
	}
	return passed || !allowed
}

// agreesToReport reports whether the kernel's choice to report an event or
// keep it (already allowed) agrees with the monitor: it keeps exactly what
// the monitor allows; where the compiler widened the hook, it keeps nothing.
func agreesToReport(reported, allowed, exact bool) bool {
	if !exact {
		return reported
	}
	return reported != allowed
}

// sameObservation reports whether a reported event is the case's.
func sameObservation(ev, want sensor.Event) bool {
	if ev.Type != want.Type {
		return false
	}
	switch ev.Type {
	case sensor.TypeExec:
		return ev.Exec.Path == want.Exec.Path
	case sensor.TypeOpen:
		return ev.Open.Path == want.Open.Path && ev.Open.Flags.Write() == want.Open.Flags.Write()
	case sensor.TypeConnect:
		return ev.Connect.Port == want.Connect.Port && ev.Connect.UnixPath == want.Connect.UnixPath
	case sensor.TypeCapability:
		return ev.Capability.Cap == want.Capability.Cap
	}
	return false
}

// layOut creates the table's files and programs (copies of busybox, and
// links to one named as applets).
func layOut(t testing.TB, dir string) {
	t.Helper()
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{"bin/kids/tool", busybox, 0o755}, {"bin/kids/deeper/tool", busybox, 0o755}, {"bin/tree/a/b/tool", busybox, 0o755},
		{"bin/other/tool", busybox, 0o755}, {"bin/v/99/tool", busybox, 0o755},
		{"bin/kids/gone", busybox, 0o755}, {"bin/tree/a/gone", busybox, 0o755},
		{"data/read.txt", []byte("r\n"), 0o644}, {"data/write.log", []byte("w\n"), 0o644},
		{"conf/app.conf", []byte("c\n"), 0o644}, {"conf/sub/deep.conf", []byte("d\n"), 0o644},
		{"tree/a/b/out", nil, 0o644}, {"secret", []byte("s\n"), 0o644}, {"v/99/data", []byte("v\n"), 0o644},
		{"chown.me", nil, 0o644}, {"bin/multi/busybox", busybox, 0o755},
		{"bin/run-20261206/tool", busybox, 0o755}, {"bin/run-12/tool", busybox, 0o755},
		{"shm/seg.1004069810", []byte("s\n"), 0o644}, {"shm/seg.2209941155", nil, 0o644}, {"shm/seg.123", []byte("s\n"), 0o644},
		{"shm/other.1004069810", []byte("o\n"), 0o644}, {"shm/lit.20270101", []byte("l\n"), 0o644},
		{"log/app-2026-12-06.log", nil, 0o644}, {"log/app-2026-12-06.log.1", nil, 0o644},
		{"bin/pg/15/bin/tool", busybox, 0o755}, {"bin/pg/main/bin/tool", busybox, 0o755},
		{"bin/pg/15/bin/evil", busybox, 0o755}, {"bin/pg/15/lib/tool", busybox, 0o755},
		{"pg/15/data/file", []byte("p\n"), 0o644}, {"pg/main/data/file", []byte("p\n"), 0o644},
		{"pg/15/data/other", []byte("p\n"), 0o644}, {"pg/15/lib/x", []byte("p\n"), 0o644},
		{"pg/main/log/a.log", nil, 0o644}, {"pg/main/log/sub/b.log", nil, 0o644},
		{"srv/a/v/b/f", []byte("f\n"), 0o644}, {"srv/a/v/b/g", []byte("g\n"), 0o644}, {"srv/a/w/b/f", []byte("f\n"), 0o644},
	} {
		path := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, applet := range []string{"true", "false"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin/multi", applet)); err != nil {
			t.Fatal(err)
		}
	}
}

// world is the test container under the real enforcement controller.
type world struct {
	sensor *sensor.Sensor
	ctl    *Controller
	judge  *policy.Engine
	ctr    *containers.Container
	cgroup *testutil.Cgroup
	shell  *shell

	mu     sync.Mutex
	events []sensor.Event // of the container's cgroup
	taken  uint64         // events taken from the sensor, of any cgroup
}

// startWorld starts the container's shell, lets prepare (when not nil) set
// it up, then puts p in force on it in mode.
func startWorld(t testing.TB, mode profile.Mode, p *profile.Profile, prepare func(*shell)) *world {
	t.Helper()
	return startWorldWith(t, mode, p, prepare, nil)
}

// startWorldWith is startWorld with the kernel's configuration, as this
// node supports it, adjusted first (when adjust is not nil).
func startWorldWith(t testing.TB, mode profile.Mode, p *profile.Profile, prepare func(*shell), adjust func(*KernelConfig)) *world {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	cg := testutil.NewCgroup(t)
	root, err := cgroup.Mountpoint(procfs.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	hostNS := testutil.RuntimeMountNamespace(t)
	cfg := sensor.DefaultConfig()
	cfg.CgroupFilter, cfg.Cgroups, cfg.HostMntNS, cfg.MaxLatency = sensor.FilterInclude, []uint64{cg.ID}, hostNS, 10*time.Millisecond
	kcfg := DefaultKernelConfig()
	kcfg.CgroupRoot, kcfg.HostMntNS = root, hostNS
	kcfg, probes := kcfg.ForThisNode()
	if adjust != nil {
		adjust(&kcfg)
	}
	s, err := sensor.New(cfg, log, kcfg.Programs())
	if err != nil {
		t.Fatalf("load the programs: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ctl, err := NewController(s.Objects(), kcfg, probes, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{sensor: s, ctl: ctl, judge: newJudge(t, p, mode), cgroup: cg}
	go w.record()

	w.shell = startShell(t, cg)
	w.ctr = &containers.Container{ID: "agree", Image: "agree", ImageDigest: agreeDigest, Scope: 9,
		PID: uint32(w.shell.cmd.Process.Pid), CgroupPath: strings.TrimPrefix(cg.Path, root)}
	if err := ctl.Scopes().Set(cg.ID, w.ctr.Scope); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(w.shell)
	}
	testutil.RunUntilCleanup(t, "enforcement", func(ctx context.Context) error {
		ctl.Run(ctx, Sources{Containers: staticContainers{w.ctr, cg.ID}, Judge: w.judge})
		return nil
	})
	deadline := time.Now().Add(10 * time.Second)
	for !w.inForce(mode) {
		if time.Now().After(deadline) {
			t.Fatalf("the controller did not put the profile in force (%s) on the container", mode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return w
}

// tier is the tier a hook is enforced on.
func (w *world) tier(hook string) Tier {
	for _, ht := range w.ctl.Tiers() {
		if ht.Hook == hook {
			return ht.Tier
		}
	}
	return ""
}

// inForce reports whether the kernel has the profile for the container's
// scope in mode, and where fanotify enforces opens, the container's mounts
// are marked.
func (w *world) inForce(mode profile.Mode) bool {
	e := w.ctl.enforcer
	e.mu.Lock()
	st, ok := e.scopes[w.ctr.Scope]
	e.mu.Unlock()
	if !ok || st.mode != mode {
		return false
	}
	if f := w.ctl.fanotify; f != nil && mode == profile.ModeEnforce {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.marks[w.ctr.Scope]) > 0
	}
	return true
}

func (w *world) record() {
	for ev := range sensor.Merged(w.sensor) {
		w.mu.Lock()
		if ev.CgroupID == w.cgroup.ID {
			w.events = append(w.events, ev)
		}
		w.taken++
		w.mu.Unlock()
	}
}

// settle waits until every event the kernel wrote has been taken, and
// returns those of the container: then an event that is not there was kept
// in the kernel, not late.
func (w *world) settle(t *testing.T) []sensor.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := w.sensor.Stats()
		if err != nil {
			t.Fatal(err)
		}
		var written, lost uint64
		for _, typ := range sensor.AllTypes {
			written += st.Emitted[typ]
			lost += st.Lost(typ)
		}
		if lost+st.DecodeErrors > 0 {
			t.Fatalf("%d events lost, %d undecodable: what the kernel kept cannot be told from what was lost", lost, st.DecodeErrors)
		}
		w.mu.Lock()
		taken, events := w.taken, append([]sensor.Event(nil), w.events...)
		w.mu.Unlock()
		if taken == written {
			return events
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events taken from the sensor", taken, written)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// staticContainers is attribution that knows one container, by its cgroup.
type staticContainers struct {
	ctr    *containers.Container
	cgroup uint64
}

func (staticContainers) Connected() bool                       { return true }
func (s staticContainers) Containers() []*containers.Container { return []*containers.Container{s.ctr} }
func (s staticContainers) Lookup(_ context.Context, id uint64) containers.Attribution {
	if id == s.cgroup {
		return containers.Attribution{Kind: containers.InContainer, Container: s.ctr}
	}
	return containers.Attribution{Kind: containers.Host}
}

func (s staticContainers) Known(id uint64) (containers.Attribution, bool) {
	return s.Lookup(context.Background(), id), true
}

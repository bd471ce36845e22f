package enforce

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/test/testutil"
)

// helperEnv makes the test binary a child that performs one action and
// prints "ok" or the errno it met.
const helperEnv = "VIGIL_ENFORCE_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(args []string) int {
	var err error
	switch args[0] {
	case "noop":
	case "open":
		var f *os.File
		if f, err = os.Open(args[1]); err == nil {
			f.Close()
		}
	case "connect":
		var c net.Conn
		if c, err = net.Dial("tcp4", args[1]); err == nil {
			c.Close()
		}
	case "unix": // a path, or "@name" for an abstract socket
		var c net.Conn
		if c, err = net.Dial("unix", args[1]); err == nil {
			c.Close()
		}
	case "rawsocket": // CAP_NET_RAW
		var fd int
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP); err == nil {
			unix.Close(fd)
		}
	case "chown": // CAP_CHOWN
		err = os.Chown(args[1], 65534, 65534)
	}
	var errno syscall.Errno
	switch {
	case err == nil:
		fmt.Println("ok")
	case errors.As(err, &errno):
		fmt.Println(errno.Error())
	default:
		fmt.Println(err)
	}
	return 0
}

// TestLSMTierInVM runs TestLSMEnforcement in the test VM, on Debian's
// kernel with BPF LSM: tier 1 cannot load on this host.
func TestLSMTierInVM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RunInVM(t, ".", "^TestLSMEnforcement$", "TestLSMEnforcement")
}

// TestModReturnTierInVM runs TestModReturnEnforcement in the test VM, on
// Debian's kernel booted without BPF LSM, as AKS's kernels run: this host
// refuses trampoline programs.
func TestModReturnTierInVM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RunInVMWith(t, testutil.NoBPFLSM, ".", "^TestModReturnEnforcement$", "TestModReturnEnforcement")
}

// TestLSMEnforcement loads the real BPF LSM programs with a compiled
// profile scoped to a test cgroup and checks that each hook denies, before
// the action, exactly what the profile does not allow, and nothing outside.
func TestLSMEnforcement(t *testing.T) {
	testutil.RequireVMGuest(t)
	testutil.RequireRoot(t)
	if err := ProbeLSM(); err != nil {
		t.Fatalf("the test VM must run BPF LSM programs: %v", err)
	}
	denyInKernel(t, TierLSM)
}

// TestModReturnEnforcement checks that where BPF LSM is not enabled the
// node picks the same programs as fmod_ret, and that they deny as
// TestLSMEnforcement has BPF LSM deny.
func TestModReturnEnforcement(t *testing.T) {
	testutil.RequireVMGuest(t)
	testutil.RequireRoot(t)
	kcfg, probes := DefaultKernelConfig().ForThisNode()
	if probes.LSM == nil || probes.ModReturn != nil || kcfg.LSM || !kcfg.ModReturn || kcfg.GuardConnect {
		t.Fatalf("a kernel without BPF LSM: LSM probe %v, fmod_ret probe %v; config LSM %v, fmod_ret %v, connect guard %v; want fmod_ret only",
			probes.LSM, probes.ModReturn, kcfg.LSM, kcfg.ModReturn, kcfg.GuardConnect)
	}
	tiers := map[string]Tier{}
	for _, ht := range Tiers(probes) {
		tiers[ht.Hook] = ht.Tier
	}
	for _, hook := range []string{"exec", "open", "connect", "capability"} {
		if tiers[hook] != TierModReturn {
			t.Errorf("%s is enforced on the %s tier, want fmod_ret", hook, tiers[hook])
		}
	}
	denyInKernel(t, TierModReturn)
}

// denyInKernel loads the real programs of tier (lsm or fmod_ret) with a
// compiled profile scoped to a test cgroup and checks that each hook
// denies, before the action, exactly what the profile does not allow, and
// nothing outside.
func denyInKernel(t *testing.T, tier Tier) {
	k := newKernelFixture(t, HookExec|HookOpen|HookConnect|HookCapability,
		func(_ *sensor.Config, kcfg *KernelConfig) {
			kcfg.LSM, kcfg.ModReturn = tier == TierLSM, tier == TierModReturn
		})
	cg, s := k.cgroup, k.sensor
	for _, h := range s.Hooks() { // trampolines load here: the denials below are flagged at fexit
		if !strings.HasPrefix(h.Attach, "fexit/") {
			t.Fatalf("the sensor sees %ss at %s (%s), want fexit", h.Type, h.Attach, h.Reason)
		}
	}
	denied := make(chan sensor.Event, 64)
	go func() {
		for ev := range sensor.Merged(s) {
			if ev.Flags.Has(sensor.FlagDenied) {
				denied <- ev
			}
		}
	}()

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	allowedFile, secret, other := filepath.Join(dir, "allowed"), filepath.Join(dir, "secret"), filepath.Join(dir, "other-bin")
	// Below a "*" before the last component: any name there, and nothing
	// beside the pattern.
	starFile, starSibling := filepath.Join(dir, "v1", "allowed"), filepath.Join(dir, "v1", "secret")
	starBin, starEvil := filepath.Join(dir, "v1", "tool"), filepath.Join(dir, "v1", "evil")
	if err := os.Mkdir(filepath.Join(dir, "v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{allowedFile, secret, starFile, starSibling} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{other, starBin, starEvil} {
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)

	p := &profile.Profile{Metadata: profile.Metadata{Version: 1, Mode: profile.ModeEnforce}}
	busybox, err := filepath.EvalSymlinks("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(dir, "gone") // allowed by path, but run once deleted: written at run time
	if err := os.WriteFile(gone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	p.Spec.Executables = []profile.ExecEntry{{Path: self}, {Path: gone}, {Path: busybox, As: "true"}, {Path: busybox, As: "sh"}, {Path: dir + "/*/tool"}}
	p.Spec.Files = []profile.FileEntry{{Path: "/sys/**", Access: profile.AccessRead}, {Path: allowedFile, Access: profile.AccessRead},
		{Path: dir, Access: profile.AccessRead}, {Path: dir + "/*/allowed", Access: profile.AccessRead}}
	p.Spec.Network = []profile.NetworkEntry{{Prefix: netip.MustParsePrefix("127.0.0.1/32"), Ports: profile.SinglePort(port), Protocol: profile.TCP}}
	p.Spec.Capabilities = []profile.CapabilityEntry{{Capability: unix.CAP_CHOWN}}
	k.apply(t, 9, profile.ModeEnforce, p)

	// runAs runs a helper, in the cgroup as a container's workload when
	// inside, with attr's changes to how it is started.
	runAs := func(inside bool, attr func(*syscall.SysProcAttr), bin string, action ...string) string {
		cmd := exec.Command(bin, action...)
		cmd.SysProcAttr = &syscall.SysProcAttr{}
		if inside {
			cmd = cg.Command(bin, action...)
			cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS // a container's workload
		}
		if attr != nil {
			attr(cmd.SysProcAttr)
		}
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return err.Error()
		}
		return strings.TrimSpace(string(out))
	}
	run := func(inside bool, bin string, action ...string) string {
		return runAs(inside, nil, bin, action...)
	}
	other1 := fmt.Sprintf("127.0.0.1:%d", port+1)
	for _, tc := range []struct {
		name, want string
		bin        string
		action     []string
	}{
		{"allowed exec", "ok", self, []string{"noop"}},
		{"denied exec", "operation not permitted", other, []string{"noop"}},
		{"allowed read", "ok", self, []string{"open", allowedFile}},
		{"denied read", "operation not permitted", self, []string{"open", secret}},
		{"allowed exec below a *", "ok", starBin, []string{"noop"}},
		{"denied exec beside a *", "operation not permitted", starEvil, []string{"noop"}},
		{"allowed read below a *", "ok", self, []string{"open", starFile}},
		{"denied read beside a *", "operation not permitted", self, []string{"open", starSibling}},
		{"allowed connect", "ok", self, []string{"connect", ln.Addr().String()}},
		{"denied connect", "operation not permitted", self, []string{"connect", other1}},
		{"allowed capability", "ok", self, []string{"chown", allowedFile}},
	} {
		if got := run(true, tc.bin, tc.action...); !strings.Contains(got, tc.want) {
			t.Errorf("%s in the cgroup: %q, want %q", tc.name, got, tc.want)
		}
		if got := run(false, tc.bin, tc.action...); strings.Contains(got, "not permitted") || strings.Contains(got, "killed") {
			t.Errorf("%s outside the cgroup was denied: %q", tc.name, got)
		}
	}

	// Capabilities: what the capability module refuses is refused, and
	// not reported (on the fmod_ret tier the program runs before the
	// module decides); what it grants outside the profile is denied, in a
	// user namespace of the workload's own too.
	nobody := func(a *syscall.SysProcAttr) { a.Credential = &syscall.Credential{Uid: 65534, Gid: 65534} }
	userns := func(a *syscall.SysProcAttr) {
		a.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	}
	if got := runAs(true, nobody, self, "rawsocket"); !strings.Contains(got, "operation not permitted") {
		t.Errorf("a capability the kernel refuses, in the cgroup: %q, want EPERM", got)
	}
	if got := runAs(true, userns, self, "rawsocket"); !strings.Contains(got, "operation not permitted") {
		t.Errorf("a capability granted in the workload's own user namespace, in the cgroup: %q, want EPERM", got)
	}
	if got := runAs(false, userns, self, "rawsocket"); got != "ok" {
		t.Errorf("a capability granted in a user namespace, outside the cgroup: %q, want ok", got)
	}
	if got := runAs(true, nil, self, "rawsocket"); !strings.Contains(got, "operation not permitted") {
		t.Errorf("denied capability in the cgroup: %q, want EPERM", got)
	}
	if got := runAs(false, nil, self, "rawsocket"); got != "ok" {
		t.Errorf("denied capability outside the cgroup: %q, want ok", got)
	}

	t.Run("a program written at run time onto an allowed path", func(t *testing.T) {
		f, err := os.Open(gone)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := os.Remove(gone); err != nil {
			t.Fatal(err)
		}
		cmd := cg.Command("/proc/self/fd/3", "noop")
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
		cmd.ExtraFiles = []*os.File{f}
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(err.Error(), "operation not permitted") {
			t.Errorf("exec of the deleted copy: %v %q, want EPERM", err, out)
		}
	})
	t.Run("an exec by the workload", func(t *testing.T) {
		// The workload's own exec of a program its profile lets run but
		// not be read: the exec's open is the exec's, whichever flag the
		// kernel marks it with (f_flags only on 6.1).
		cmd := cg.Command(busybox, "-c", self+" noop")
		cmd.Args[0] = "sh"
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("the workload's shell running an allowed program: %v %q, want ok", err, out)
		}
	})
	t.Run("applets", func(t *testing.T) {
		// BPF LSM lets busybox through (allowed as some applet); the exec
		// tracepoint judges the applet once argv is in place.
		for _, tc := range []struct {
			argv []string
			want string
		}{
			{[]string{"true"}, ""},
			{[]string{"busybox", "true"}, ""},
			{[]string{"false"}, "signal: killed"},
			{[]string{"/bin/busybox", "false"}, "signal: killed"},
		} {
			cmd := cg.Command(busybox, tc.argv[1:]...)
			cmd.Args[0] = tc.argv[0]
			cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
			got := ""
			if err := cmd.Run(); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("busybox run as %q: %q, want %q", tc.argv, got, tc.want)
			}
		}
	})

	// The ring is one: once both capabilities denied to uid 0 (in the user
	// namespace and not) are read, every earlier record was, nobody's
	// kernel-refused capability's too had there been one.
	seen := map[sensor.Type]bool{}
	rootCapabilities := 0
	timeout := time.After(10 * time.Second)
	for rootCapabilities < 2 || len(seen) < 4 {
		select {
		case ev := <-denied:
			seen[ev.Type] = true
			t.Logf("denied %s: %s %s %s uid %d", ev.Type, ev.Exec.Path, ev.Open.Path, ev.Capability.Name(), ev.UID)
			switch {
			case ev.Type != sensor.TypeCapability:
			case ev.UID == 0:
				rootCapabilities++
			default:
				t.Errorf("uid %d reported denied %s, which the kernel refused it", ev.UID, ev.Capability.Name())
			}
		case <-timeout:
			t.Fatalf("denial events seen for %v (%d capabilities of uid 0), want exec, open, connect and 2 capabilities", seen, rootCapabilities)
		}
	}
}

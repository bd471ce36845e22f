package enforce

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-dev/vigil/pkg/sensor"
)

// TestTiersNameTheUnjudgedCapabilities checks that the capability tier
// says which capabilities it leaves alone, in its reason (status and
// vigil_enforcement_tier) and in vigil_capability_unjudged: not enforced on
// the signal tier, enforced by BPF LSM, and not listed where the hook did
// not load.
func TestTiersNameTheUnjudgedCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name   string
		probes Probes
		want   string // the series of vigil_capability_unjudged for CAP_SYS_ADMIN
		reason string
	}{
		{"signal", Probes{LSM: errors.New("no BPF LSM"), ModReturn: errors.New("no trampolines")}, `capability="CAP_SYS_ADMIN",enforced="false"`, "neither enforced, learned nor monitored"},
		{"lsm", Probes{}, `capability="CAP_SYS_ADMIN",enforced="true"`, "enforced where the kernel audits the check, but neither learned nor monitored"},
		{"fmod-ret", Probes{LSM: errors.New("no BPF LSM")}, `capability="CAP_SYS_ADMIN",enforced="true"`, "enforced where the kernel audits the check, but neither learned nor monitored"},
		{"no hook", Probes{LSM: errors.New("no BPF LSM"), ModReturn: errors.New("no trampolines"), CapabilityHook: errors.New("no cap_capable")}, "", "cap_capable tracepoint: no cap_capable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tiers := Tiers(tc.probes)
			var reason string
			for _, ht := range tiers {
				if ht.Hook == "capability" {
					reason = ht.Reason
				}
			}
			if !strings.Contains(reason, tc.reason) || (tc.want != "" && !strings.Contains(reason, "CAP_SYS_ADMIN, CAP_SYS_RESOURCE")) {
				t.Errorf("capability tier reason %q, want it to say %q and name the capabilities", reason, tc.reason)
			}
			reg := prometheus.NewRegistry()
			if _, err := RegisterTiers(reg, tiers); err != nil {
				t.Fatal(err)
			}
			n, err := testutil.GatherAndCount(reg, "vigil_capability_unjudged")
			if err != nil {
				t.Fatal(err)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var series []string
			for _, mf := range mfs {
				if mf.GetName() != "vigil_capability_unjudged" {
					continue
				}
				for _, m := range mf.GetMetric() {
					var labels []string
					for _, l := range m.GetLabel() {
						labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
					}
					series = append(series, strings.Join(labels, ","))
				}
			}
			switch {
			case tc.want == "" && n != 0:
				t.Errorf("vigil_capability_unjudged has %d series without a capability hook: %v", n, series)
			case tc.want != "" && (n != len(sensor.UnjudgedCapabilities) || !strings.Contains(strings.Join(series, " "), tc.want)):
				t.Errorf("vigil_capability_unjudged = %v, want %d series with %s", series, len(sensor.UnjudgedCapabilities), tc.want)
			}
		})
	}
}

// TestModReturnTiers checks the tiers where BPF LSM programs do not run
// but load as fmod_ret: exec, open, connect and capabilities are denied
// before the action by them, whether or not the cap_capable tracepoint
// (the signal tier's) exists; unix connects and io_uring keep their own.
func TestModReturnTiers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		probes Probes
	}{
		{"cap_capable tracepoint", Probes{LSM: errors.New("never called")}},
		{"no cap_capable tracepoint", Probes{LSM: errors.New("never called"), CapabilityHook: errors.New("no cap_capable")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]Tier{}
			for _, ht := range Tiers(tc.probes) {
				got[ht.Hook] = ht.Tier
				if ht.Tier == TierModReturn && !strings.Contains(ht.Reason, "never called") {
					t.Errorf("%s: reason %q does not say why BPF LSM is not used", ht.Hook, ht.Reason)
				}
			}
			want := map[string]Tier{"exec": TierModReturn, "open": TierModReturn, "connect": TierModReturn,
				"capability": TierModReturn, "connect_unix": TierCgroup, "io_uring": TierSignal}
			if !maps.Equal(got, want) {
				t.Errorf("tiers %v, want %v", got, want)
			}
			if hooks := KernelHooks(Tiers(tc.probes)); hooks != HookExec|HookOpen|HookConnect|HookCapability|HookIoUring {
				t.Errorf("kernel hooks %v, want all", hooks)
			}
		})
	}
}

// TestUnixConnectTier checks the tier unix connects report: the
// cgroup/connect_unix program where it is attached, whatever the other
// hooks' tiers; the kill at the connect's exit where it is missing; and
// alert-only where the program was asked for and failed to load (the exit
// then does not kill either).
func TestUnixConnectTier(t *testing.T) {
	old := errors.New("unknown attach type")
	for _, tc := range []struct {
		name   string
		probes Probes
		want   Tier
	}{
		{"lsm, guard", Probes{}, TierCgroup},
		{"no lsm, guard", Probes{LSM: errors.New("no BPF LSM"), ModReturn: errors.New("no trampolines")}, TierCgroup},
		{"lsm, before 6.7", Probes{UnixGuard: old, UnixSignal: true}, TierSignal},
		{"no lsm, before 6.7", Probes{LSM: errors.New("no BPF LSM"), ModReturn: errors.New("no trampolines"), UnixGuard: old, UnixSignal: true}, TierSignal},
		{"guard failed", Probes{LSM: errors.New("no BPF LSM"), ModReturn: errors.New("no trampolines"), UnixGuard: old}, TierAlertOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tiers := Tiers(tc.probes)
			i := slices.IndexFunc(tiers, func(ht HookTier) bool { return ht.Hook == "connect_unix" })
			if i < 0 {
				t.Fatalf("no connect_unix tier in %+v", tiers)
			}
			if got := tiers[i]; got.Tier != tc.want || (tc.probes.UnixGuard != nil && !strings.Contains(got.Reason, old.Error())) {
				t.Errorf("connect_unix tier %+v, want %s with the reason the guard is missing", got, tc.want)
			}
			only := KernelHooks([]HookTier{tiers[i]})
			if (only&HookConnect != 0) != (tc.want != TierAlertOnly) {
				t.Errorf("kernel hooks of %s unix connects alone: %b", tc.want, only)
			}
		})
	}
}

// TestIoUringIsTheSignalTiers checks that io_uring is enforced by the
// signal tier with BPF LSM or without (no LSM hook judges a ring or an
// opcode everywhere), and only reported where its tracepoints did not load.
func TestIoUringIsTheSignalTiers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		probes Probes
		want   Tier
	}{
		{"lsm", Probes{}, TierSignal},
		{"no lsm", Probes{LSM: errors.New("no BPF LSM"), ModReturn: errors.New("no trampolines")}, TierSignal},
		{"no tracepoints", Probes{LSM: errors.New("no BPF LSM"), ModReturn: errors.New("no trampolines"), IoUringHook: errors.New("no io_uring")}, TierAlertOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tiers := Tiers(tc.probes)
			i := slices.IndexFunc(tiers, func(ht HookTier) bool { return ht.Hook == "io_uring" })
			if i < 0 || tiers[i].Tier != tc.want {
				t.Fatalf("tiers %+v: io_uring not at %s", tiers, tc.want)
			}
			if got := KernelHooks(tiers)&HookIoUring != 0; got != (tc.want == TierSignal) {
				t.Errorf("kernel hooks enforce io_uring: %v, want %v", got, tc.want == TierSignal)
			}
		})
	}
}

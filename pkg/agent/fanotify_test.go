package agent

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enrich"
	"github.com/vigil-dev/vigil/pkg/policy"
	"github.com/vigil-dev/vigil/pkg/process"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// staticProfiles is a fixed set of profiles.
type staticProfiles map[string]*profile.Profile

func (s staticProfiles) Get(d string) (*profile.Profile, bool) { p, ok := s[d]; return p, ok }

// TestFanotifyDeniedIsTheTiersVerdict: an EPERM open in an enforced
// container is labelled blocked by the fanotify tier only when the tier
// refuses it, asked as it asks (with the open's access: a write of a file
// the profile lets the container only read is the tier's refusal), and
// only on that tier. The verdicts are the real engine's; the tier is not
// running (it needs an enforcement controller).
func TestFanotifyDeniedIsTheTiersVerdict(t *testing.T) {
	const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	ctr := &containers.Container{ID: "c1", Image: "app:1", ImageDigest: digest, PodNamespace: "shop"}
	p := &profile.Profile{Metadata: profile.Metadata{Digest: digest, Version: 1, Mode: profile.ModeEnforce}}
	p.Spec.Files = []profile.FileEntry{{Path: "/etc/app.conf", Access: profile.AccessRead}}
	engine, err := policy.New(policy.Config{Node: "n1", Modes: profile.ModePolicy{Default: profile.ModeEnforce},
		Profiles: staticProfiles{digest: p}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path       string
		flags      uint64
		ret        int32
		byFanotify bool
		blocked    bool
	}{
		{"/etc/shadow", unix.O_RDONLY, -int32(unix.EPERM), true, true},
		{"/etc/app.conf", unix.O_WRONLY, -int32(unix.EPERM), true, true},
		{"/etc/shadow", unix.O_RDONLY, -int32(unix.EACCES), true, false},
		{"/etc/shadow", unix.O_RDONLY, -int32(unix.EPERM), false, false},
	} {
		ev := &sensor.Event{Type: sensor.TypeOpen, PID: 5, Open: sensor.Open{Path: tc.path, Flags: sensor.OpenFlags(tc.flags), Ret: tc.ret}}
		rec := &enrich.Record{Event: ev, Attribution: containers.Attribution{Kind: containers.InContainer, Container: ctr},
			Process: process.Process{PID: 5, Contained: true}}
		v, ok := engine.Evaluate(rec)
		if !ok || v.Mode != profile.ModeEnforce || v.Allowed {
			t.Fatalf("%s (flags %#x): the monitor's verdict %+v, want a violation in enforce mode", tc.path, tc.flags, v)
		}
		if got := fanotifyDenied(tc.byFanotify, engine, ev, ctr, v); got != tc.blocked {
			t.Errorf("%s (flags %#x, ret %d, fanotify tier %v): blocked %v, want %v", tc.path, tc.flags, tc.ret, tc.byFanotify, got, tc.blocked)
		}
	}
}

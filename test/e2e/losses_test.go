package e2e

import (
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// TestLossesMarkOnlyTheDraftsTheyHit floods one learning container until
// the agent loses its events and checks that only that image's draft says
// it is incomplete: a quiet container of another image learning beside it
// keeps a complete draft (before, every loss on the node marked every
// draft, so no draft on a busy node was ever complete).
func TestLossesMarkOnlyTheDraftsTheyHit(t *testing.T) {
	noisy := containerdtest.BusyboxImage(t)
	quiet := containerdtest.BusyboxImageWith(t, "vigil.test/quiet:1", ctrd.File{Path: "etc/quiet", Mode: 0o644, Data: []byte("quiet\n")})
	w := newWorld(t, "losses", noisy, quiet)

	cfg := w.agentConfig(t)
	cfg.Sensor.QueueSize = 512 // the pipeline falls behind the flood: its queue drops
	a, reg := startAgent(t, cfg)

	q := w.d.Run(t, containerdtest.RunOptions{Image: quiet, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"}})
	n := w.d.Run(t, containerdtest.RunOptions{Image: noisy, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"}})
	execIn(t, q, "cat /etc/quiet >/dev/null")
	execIn(t, n, "true")
	waitProcessed(t, reg)
	quietDigest, noisyDigest := quiet.ManifestDigest.String(), noisy.ManifestDigest.String()
	before := waitDraft(t, a, quietDigest, func(p *profile.Profile) bool { return hasFile(p, "/etc/quiet") })
	if len(before.Metadata.Learning.Incomplete) != 0 {
		t.Fatalf("the quiet draft is incomplete before any flood: %v", before.Metadata.Learning.Incomplete)
	}

	// Distinct new files: each is news to the learner, so each is an event.
	execIn(t, n, `for j in 1 2 3 4; do (i=0; while [ $i -lt 5000 ]; do : >/tmp/f$j.$i; i=$((i+1)); done) & done; wait`)
	waitProcessed(t, reg)
	lost := metric(t, reg, "vigil_sensor_events_lost_total")
	if lost == 0 {
		t.Fatal("the flood lost nothing: the test did not exercise a loss")
	}
	waitDraft(t, a, noisyDigest, func(p *profile.Profile) bool {
		return incomplete(p, "events of its containers lost")
	})
	after := waitDraft(t, a, quietDigest, func(*profile.Profile) bool { return true })
	t.Logf("%v events lost; the noisy draft says so, the quiet one says %v", lost, after.Metadata.Learning.Incomplete)
	if len(after.Metadata.Learning.Incomplete) != 0 {
		t.Fatalf("the quiet container's draft was marked by another container's losses: %v", after.Metadata.Learning.Incomplete)
	}
}

func incomplete(p *profile.Profile, reason string) bool {
	for _, r := range p.Metadata.Learning.Incomplete {
		if strings.Contains(r.Reason, reason) {
			return true
		}
	}
	return false
}

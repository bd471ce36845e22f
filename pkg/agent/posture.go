package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/posture"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// RulePostureWorse is the rule of the alert raised when a container starts
// with findings the previous container of its image repository did not have.
const RulePostureWorse = "posture-worse"

// postures reports the running containers' posture, keeps the gauge per
// finding, and compares each new container with the previous one of its
// image repository.
type postures struct {
	findings *prometheus.GaugeVec

	mu sync.Mutex
	// last is the newest container seen of each image repository.
	last map[string]seenPosture
	// seen are the container ids compared already.
	seen map[string]struct{}
}

type seenPosture struct {
	id, image string
	report    posture.Report
}

func newPostures(reg prometheus.Registerer) (*postures, error) {
	p := &postures{
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_posture_findings",
			Help: "Running containers with each least-privilege finding (privileged, run_as_root, host_network, …), as last reported to the collector.",
		}, []string{"finding"}),
		last: map[string]seenPosture{}, seen: map[string]struct{}{},
	}
	if err := reg.Register(p.findings); err != nil {
		return nil, fmt.Errorf("register posture metric: %w", err)
	}
	return p, nil
}

// usedCapabilities returns the capabilities an image's profile (in force,
// else its draft) saw used; ok is false when the node has neither.
type usedCapabilities func(digest string) (caps []string, ok bool)

// report returns the posture of every running container, sets the gauge,
// and returns an alert for each new container worse than the previous of
// its repository.
func (p *postures) report(node string, running []*containers.Container, used usedCapabilities) ([]*vigilv1.ContainerPosture, []*vigilv1.Alert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	counts := map[posture.Finding]int{}
	var out []*vigilv1.ContainerPosture
	var alerts []*vigilv1.Alert
	live := map[string]struct{}{}
	for _, c := range running {
		if c.Sandbox {
			continue
		}
		live[c.ID] = struct{}{}
		r := c.Posture
		if caps, ok := used(c.ImageDigest); ok && c.HasImageDigest() {
			r.WithProfile(caps)
		}
		for _, f := range r.Findings {
			counts[f]++
		}
		out = append(out, postureProto(c, r))
		if _, done := p.seen[c.ID]; done {
			continue
		}
		p.seen[c.ID] = struct{}{}
		repo := profile.Repository(c.Image)
		if prev, ok := p.last[repo]; ok {
			if worse := r.Worse(prev.report); len(worse) > 0 {
				alerts = append(alerts, postureAlert(node, c, worse, prev))
			}
		}
		p.last[repo] = seenPosture{id: c.ID, image: c.Image, report: r}
	}
	for id := range p.seen {
		if _, ok := live[id]; !ok {
			delete(p.seen, id)
		}
	}
	for _, f := range posture.All {
		p.findings.WithLabelValues(string(f)).Set(float64(counts[f]))
	}
	return out, alerts
}

func postureProto(c *containers.Container, r posture.Report) *vigilv1.ContainerPosture {
	findings := make([]string, len(r.Findings))
	for i, f := range r.Findings {
		findings[i] = string(f)
	}
	return &vigilv1.ContainerPosture{
		ContainerId: c.ID, Image: c.Image, ImageDigest: c.ImageDigest, Pod: c.PodName, Namespace: c.PodNamespace,
		ContainerName: c.ContainerName, Findings: findings, Uid: r.UID, Capabilities: r.Capabilities,
		AddedCapabilities: r.AddedCapabilities, UnusedCapabilities: r.UnusedCapabilities, HostMounts: r.HostMounts,
		PssLevel: string(r.Level), NotBaseline: r.NotBaseline, NotRestricted: r.NotRestricted,
	}
}

// postureAlert says which findings container c has that prev, the previous
// container of its repository, did not.
func postureAlert(node string, c *containers.Container, worse []posture.Finding, prev seenPosture) *vigilv1.Alert {
	names := make([]string, len(worse))
	for i, f := range worse {
		names[i] = string(f)
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s", node, c.ID, RulePostureWorse))
	now := time.Now()
	return &vigilv1.Alert{
		Id: hex.EncodeToString(h[:16]), Time: timestamppb.New(now), Node: node,
		Container: &vigilv1.Container{Id: c.ID, Name: c.ContainerName, Image: c.Image, ImageDigest: c.ImageDigest,
			Pod: c.PodName, Namespace: c.PodNamespace, PodUid: c.PodUID},
		Kind: vigilv1.Kind_KIND_POSTURE, Rule: RulePostureWorse, Action: vigilv1.Action_ACTION_ALERTED,
		Severity: vigilv1.Severity_SEVERITY_WARNING, Count: 1, FirstSeen: timestamppb.New(now), LastSeen: timestamppb.New(now),
		Detail: fmt.Sprintf("started with %s, which container %s of %s before it did not have",
			strings.Join(names, ", "), prev.id, prev.image),
		Labels: map[string]string{"findings": strings.Join(names, ","), "previous_container": prev.id,
			"pss_level": string(c.Posture.Level)},
	}
}

// capabilitiesUsed looks up what an image's profile in force, else its
// draft, saw used.
func (a *Agent) capabilitiesUsed() usedCapabilities {
	drafts := map[string]*profile.Draft{}
	for _, d := range a.engine.Drafts() {
		drafts[d.Digest()] = d
	}
	return func(digest string) ([]string, bool) {
		p, ok := a.engine.Profile(digest)
		if !ok {
			d, found := drafts[digest]
			if !found {
				return nil, false
			}
			p = d.Profile()
		}
		var caps []string
		for _, e := range p.Spec.Capabilities {
			caps = append(caps, e.Capability.String())
		}
		return slices.Compact(caps), true
	}
}

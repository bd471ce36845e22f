package alert

import (
	"strings"
	"testing"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/containers"
)

// TestDegradedAlert names the container whose opens are not judged, says
// why, and keeps its id for the same report.
func TestDegradedAlert(t *testing.T) {
	c := &containers.Container{ID: "c1", Image: "busybox:1", ImageDigest: "sha256:ab", PodName: "p", PodNamespace: "ns"}
	at := time.Unix(100, 5)
	a := Degraded("node-1", c, "refused", "mount / is the host's", at)
	if a.GetKind() != vigilv1.Kind_KIND_ENFORCEMENT_DEGRADED || a.GetContainer().GetId() != "c1" || a.GetContainer().GetPod() != "p" ||
		a.GetLabels()[LabelOutcome] != "refused" || !strings.Contains(a.GetDetail(), "mount / is the host's") ||
		!strings.Contains(a.GetDetail(), "c1") || a.GetNode() != "node-1" || !a.GetTime().AsTime().Equal(at) {
		t.Errorf("degraded alert %v", a)
	}
	if b := Degraded("node-1", c, "refused", "mount / is the host's", at); b.GetId() != a.GetId() {
		t.Errorf("the same report has ids %s and %s", a.GetId(), b.GetId())
	}
	if b := Degraded("node-1", c, "late", "ran first", at); b.GetId() == a.GetId() {
		t.Errorf("two outcomes share id %s", a.GetId())
	}
}

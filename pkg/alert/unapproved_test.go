package alert

import (
	"strings"
	"testing"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/containers"
)

// TestUnapprovedAlert names the image, its digest, the pod and namespace,
// says whether the workload ran before the kill, and keeps one id per
// container and reason.
func TestUnapprovedAlert(t *testing.T) {
	c := &containers.Container{ID: "c1", Image: "docker.io/evil/miner:1", ImageDigest: "sha256:ab", PodName: "p", PodNamespace: "ns"}
	v := approval.Verdict{Reason: approval.ReasonRepository, Detail: "repository of docker.io/evil/miner:1 is not approved"}
	at := time.Unix(100, 5)
	a := Unapproved("node-1", c, v, vigilv1.Action_ACTION_KILLED, false, at)
	for _, want := range []string{"docker.io/evil/miner:1@sha256:ab", "ns/p", "killed before its workload ran", "not approved"} {
		if !strings.Contains(a.GetDetail(), want) {
			t.Errorf("detail %q does not say %q", a.GetDetail(), want)
		}
	}
	if a.GetKind() != vigilv1.Kind_KIND_UNAPPROVED_IMAGE || a.GetContainer().GetImageDigest() != "sha256:ab" || a.GetContainer().GetNamespace() != "ns" ||
		a.GetLabels()[LabelReason] != "repository" || a.GetLabels()[LabelWorkloadRan] != "false" || a.GetSeverity() != vigilv1.Severity_SEVERITY_ERROR {
		t.Errorf("unapproved alert %v", a)
	}
	alerted := Unapproved("node-1", c, v, vigilv1.Action_ACTION_ALERTED, false, at.Add(time.Second))
	if _, ok := alerted.GetLabels()[LabelWorkloadRan]; ok || alerted.GetId() != a.GetId() || alerted.GetSeverity() != vigilv1.Severity_SEVERITY_WARNING {
		t.Errorf("alerted %v", alerted)
	}
	if b := Unapproved("node-1", c, approval.Verdict{Reason: approval.ReasonUnknownDigest}, vigilv1.Action_ACTION_ALERTED, false, at); b.GetId() == a.GetId() {
		t.Errorf("two reasons share id %s", a.GetId())
	}
}

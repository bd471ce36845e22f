package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/containers"
)

// RuleUnapprovedImage is the rule of the alert that a container's image is
// not approved.
const RuleUnapprovedImage = "image-not-approved"

// Labels of an unapproved image's alert: why it is not approved (an
// approval.Reason), and, when the container was killed, whether its
// workload had run by then.
const (
	LabelReason      = "reason"
	LabelWorkloadRan = "workload_ran"
)

// Unapproved is the alert that container c was created from an image the
// approval policy does not approve (v); action is killed when the agent
// stopped it, ran whether its workload had run by then. Its id depends on
// the node, the container and the reason: one alert per container.
func Unapproved(node string, c *containers.Container, v approval.Verdict, action vigilv1.Action, ran bool, at time.Time) *vigilv1.Alert {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", node, c.ID, v.Reason, RuleUnapprovedImage))
	labels := map[string]string{LabelReason: string(v.Reason)}
	what := "runs"
	if action == vigilv1.Action_ACTION_KILLED {
		labels[LabelWorkloadRan] = strconv.FormatBool(ran)
		what = "was killed before its workload ran"
		if ran {
			what = "was killed after its workload had started"
		}
	}
	return &vigilv1.Alert{
		Id:        hex.EncodeToString(h[:16]),
		Time:      timestamppb.New(at),
		Node:      node,
		Container: containerProto(c),
		Kind:      vigilv1.Kind_KIND_UNAPPROVED_IMAGE,
		Detail: clip(fmt.Sprintf("container %s of pod %s/%s, image %s, %s: %s", c.ID, c.PodNamespace, c.PodName,
			imageRef(c.Image, c.ImageDigest), what, v.Detail)),
		Rule:      RuleUnapprovedImage,
		Action:    action,
		Severity:  severity(action),
		Count:     1,
		FirstSeen: timestamppb.New(at),
		LastSeen:  timestamppb.New(at),
		Labels:    labels,
	}
}

// containerProto is the container as alerts name it.
func containerProto(c *containers.Container) *vigilv1.Container {
	return &vigilv1.Container{
		Id: c.ID, Name: c.ContainerName, Image: c.Image, ImageDigest: c.ImageDigest,
		Pod: c.PodName, Namespace: c.PodNamespace, PodUid: c.PodUID,
	}
}

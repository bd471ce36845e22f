package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/containers"
)

// RuleOpensUnmarked is the rule of the alert that a container's opens are
// not judged by the fanotify tier as its profile asks.
const RuleOpensUnmarked = "open-tier-unmarked"

// LabelOutcome carries why a container's enforcement is degraded.
const LabelOutcome = "outcome"

// Degraded is the alert that the open tier does not, or did not from its
// start, judge the opens of container c: outcome is refused (a mount to
// mark was the host's or another container's), unmarked (its mounts could
// not be marked) or late (marked after its workload ran), why the detail.
// Its id depends on the node, the container, the outcome and the time.
func Degraded(node string, c *containers.Container, outcome, why string, at time.Time) *vigilv1.Alert {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%d\x00%s", node, c.ID, outcome, at.UnixNano(), RuleOpensUnmarked))
	return &vigilv1.Alert{
		Id:        hex.EncodeToString(h[:16]),
		Time:      timestamppb.New(at),
		Node:      node,
		Container: containerProto(c),
		Kind:      vigilv1.Kind_KIND_ENFORCEMENT_DEGRADED,
		Detail:    clip(fmt.Sprintf("opens of container %s (%s) not judged as its profile asks: %s", c.ID, imageRef(c.Image, c.ImageDigest), why)),
		Rule:      RuleOpensUnmarked,
		Action:    vigilv1.Action_ACTION_ALERTED,
		Severity:  vigilv1.Severity_SEVERITY_ERROR,
		Count:     1,
		FirstSeen: timestamppb.New(at),
		LastSeen:  timestamppb.New(at),
		Labels:    map[string]string{LabelOutcome: outcome},
	}
}

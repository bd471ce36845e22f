package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// RuleAgentGap is the rule of the alert that reports a time no agent saw
// the node's events.
const RuleAgentGap = "agent-restart-gap"

// LabelGapSeconds carries a gap alert's length in seconds.
const LabelGapSeconds = "gap_seconds"

// Gap is the alert that events on node from from to to were not seen by any
// agent. Its id depends only on the node and the gap, so the run that
// reports it keeps it on redelivery.
func Gap(node string, from, to time.Time) *vigilv1.Alert {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%s", node, from.UnixNano(), to.UnixNano(), RuleAgentGap))
	length := to.Sub(from)
	return &vigilv1.Alert{
		Id:        hex.EncodeToString(h[:16]),
		Time:      timestamppb.New(to),
		Node:      node,
		Kind:      vigilv1.Kind_KIND_AGENT_GAP,
		Detail:    fmt.Sprintf("agent restart: events from %s to %s were not seen (%s)", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), length.Round(time.Millisecond)),
		Rule:      RuleAgentGap,
		Action:    vigilv1.Action_ACTION_ALERTED,
		Severity:  vigilv1.Severity_SEVERITY_WARNING,
		Count:     1,
		FirstSeen: timestamppb.New(from),
		LastSeen:  timestamppb.New(to),
		Labels:    map[string]string{LabelGapSeconds: strconv.FormatFloat(length.Seconds(), 'f', 3, 64)},
	}
}

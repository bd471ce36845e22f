package collector

import (
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// The store keeps alert times as int64 Unix nanoseconds, so a time is
// representable from 1677-09-21 to 2262-04-11 (protobuf's JSON, which
// vigilctl and the sinks write, allows years 1 to 9999).
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// Labels the collector sets on an alert whose times it changed.
const (
	// labelAgentTime is the time the agent sent, when the collector put
	// its own receive time in its place.
	labelAgentTime = "agent_time"
	// labelTimeReplaced says why: timeUnrepresentable or timeClockSkew.
	labelTimeReplaced = "time_replaced"
	// labelClockSkew is how far ahead of the collector's clock the agent's was.
	labelClockSkew = "clock_skew"
	// labelInvalidTimes names the other time fields dropped as unrepresentable.
	labelInvalidTimes = "invalid_times"
)

// Reasons an alert's time is replaced (vigil_collector_alert_times_replaced_total).
const (
	timeUnrepresentable = "unrepresentable"
	timeClockSkew       = "clock_skew"
)

// representable reports whether ts is a valid timestamp within the range
// the store holds.
func representable(ts *timestamppb.Timestamp) bool {
	if ts.CheckValid() != nil {
		return false
	}
	t := ts.AsTime()
	return !t.Before(minTime) && !t.After(maxTime)
}

// agentTimeString spells a timestamp as sent, even one out of range.
func agentTimeString(ts *timestamppb.Timestamp) string {
	if ts.CheckValid() == nil {
		return ts.AsTime().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("seconds=%d nanos=%d", ts.GetSeconds(), ts.GetNanos())
}

// fixTimes makes an alert's times ones the collector can store, list and
// send, without losing the alert over its agent's clock. The alert's time is
// the agent's (when the behaviour happened, by the node's clock), unless it
// cannot be represented or is more than MaxClockSkew ahead of the
// collector's clock; then it is now, the receive time, and the agent's time
// is kept in a label. A time in the past is kept however old: an alert
// spooled through a collector outage arrives late, and that is not skew.
// Other time fields that cannot be represented are dropped and named in a
// label. now is when the batch arrived.
func (c *Collector) fixTimes(a *vigilv1.Alert, now time.Time) {
	ts := a.GetTime()
	reason := ""
	switch {
	case !representable(ts):
		reason = timeUnrepresentable
	case ts.AsTime().Sub(now) > c.opts.MaxClockSkew:
		reason = timeClockSkew
		setLabel(a, labelClockSkew, ts.AsTime().Sub(now).Round(time.Millisecond).String())
	}
	if reason != "" {
		setLabel(a, labelAgentTime, agentTimeString(ts))
		setLabel(a, labelTimeReplaced, reason)
		a.Time = timestamppb.New(now)
		c.m.timesReplaced.WithLabelValues(reason).Inc()
	}

	var invalid []string
	drop := func(name string, ts **timestamppb.Timestamp) {
		if *ts != nil && !representable(*ts) {
			*ts = nil
			invalid = append(invalid, name)
		}
	}
	drop("first_seen", &a.FirstSeen)
	drop("last_seen", &a.LastSeen)
	if a.Process != nil {
		drop("process.start_time", &a.Process.StartTime)
	}
	for i, p := range a.GetAncestry() {
		drop(fmt.Sprintf("ancestry[%d].start_time", i), &p.StartTime)
	}
	if len(invalid) > 0 {
		setLabel(a, labelInvalidTimes, strings.Join(invalid, ","))
		c.m.timesDropped.Add(float64(len(invalid)))
	}
}

func setLabel(a *vigilv1.Alert, key, value string) {
	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	a.Labels[key] = value
}

// checkFilterTimes refuses query bounds the store cannot compare with.
func checkFilterTimes(f *vigilv1.AlertFilter) error {
	for name, ts := range map[string]*timestamppb.Timestamp{"since": f.GetSince(), "until": f.GetUntil()} {
		if ts != nil && !representable(ts) {
			return fmt.Errorf("filter %s %s is outside %s to %s", name, agentTimeString(ts),
				minTime.UTC().Format(time.RFC3339), maxTime.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

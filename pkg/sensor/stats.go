package sensor

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// Counts say what happened to events, per type. For every type,
// Emitted + LostRingBuffer is what the kernel saw and let out (Stats.Uncontained
// and Stats.HostCgroup it kept), and Emitted = Delivered + DroppedQueue + (its share of DecodeErrors).
type Counts struct {
	Emitted        [typeLimit]uint64 // written to the ring buffer by the kernel
	LostRingBuffer [typeLimit]uint64 // the ring buffer was full
	Delivered      [typeLimit]uint64 // handed to the consumer
	DroppedQueue   [typeLimit]uint64 // the consumer's queue was full
	// LostPrevious were lost in the rings of the agents this one took over
	// from at its start, full while no agent read them. Counted since
	// those agents' programs were loaded, they may repeat losses the
	// agents reported themselves, so they are apart from LostRingBuffer
	// and Lost: a restart does not charge them to every learning draft
	// again.
	LostPrevious [typeLimit]uint64
}

// Lost is every event of type t that did not reach the consumer.
func (c Counts) Lost(t Type) uint64 { return c.LostRingBuffer[t] + c.DroppedQueue[t] }

// Stats counts what happened to events: of every event (Counts), and of
// those of judged containers alone, on their own path (Judged).
type Stats struct {
	Counts
	Judged         Counts
	DecodeErrors   uint64            // records that could not be decoded
	PathsTruncated uint64            // paths longer than the kernel buffer
	Killed         [typeLimit]uint64 // processes the kernel killed (signal tier)
	Denied         [typeLimit]uint64 // operations the kernel refused (cgroup, LSM tiers)
	// Uncontained are events of tasks not running a container's workload,
	// kept in the kernel (Config.ContainedOnly).
	Uncontained [typeLimit]uint64
	// HostCgroup are events of tasks that look like a workload (a host
	// service with a mount namespace of its own) in a cgroup attribution
	// marked the host's, kept in the kernel (Sensor.HostCgroups).
	HostCgroup [typeLimit]uint64
}

// userCounters are the userspace halves of Stats, written by the readers.
type userCounters struct {
	delivered    [classLimit][typeLimit]atomic.Uint64
	droppedQueue [classLimit][typeLimit]atomic.Uint64
	decodeErrors atomic.Uint64
}

// Stats returns the counters so far, summing the kernel's per-CPU ones.
func (s *Sensor) Stats() (Stats, error) {
	var st Stats
	var perCPU []bpfobj.RecordSensorStats
	if err := s.objs.Map(bpfobj.RecordMapStats).Lookup(uint32(0), &perCPU); err != nil {
		return st, fmt.Errorf("read kernel stats: %w", err)
	}
	for _, c := range perCPU {
		for t := range typeLimit {
			st.Emitted[t] += c.Emitted[t] + c.JudgedEmitted[t]
			st.LostRingBuffer[t] += c.Lost[t] + c.JudgedLost[t]
			st.Judged.Emitted[t] += c.JudgedEmitted[t]
			st.Judged.LostRingBuffer[t] += c.JudgedLost[t]
			st.Killed[t] += c.Killed[t]
			st.Denied[t] += c.Denied[t]
			st.Uncontained[t] += c.Uncontained[t]
			st.HostCgroup[t] += c.HostCgroup[t]
		}
		st.PathsTruncated += c.PathTruncated
	}
	for t := range typeLimit {
		for c := range classLimit {
			st.Delivered[t] += s.counters.delivered[c][t].Load()
			st.DroppedQueue[t] += s.counters.droppedQueue[c][t].Load()
		}
		st.Judged.Delivered[t] = s.counters.delivered[classJudged][t].Load()
		st.Judged.DroppedQueue[t] = s.counters.droppedQueue[classJudged][t].Load()
	}
	st.DecodeErrors = s.counters.decodeErrors.Load()
	if err := s.addPreviousLosses(&st.Counts, &st.Judged); err != nil {
		s.previousUnreadable.Do(func() { s.log.Warn("read a previous agent's counters", zap.Error(err)) })
	}
	return st, nil
}

// addPreviousLosses adds to all's and judged's LostPrevious the records
// the programs of the generations this sensor took over from
// (Config.Previous) found no room for in their rings: mostly while no
// agent read them, which only this sensor can report. Counted since those
// programs were loaded, they may repeat losses their own agent reported:
// a loss is counted twice rather than not at all.
func (s *Sensor) addPreviousLosses(all, judged *Counts) error {
	var perCPU []bpfobj.RecordSensorStats
	for _, m := range s.previousStats {
		if err := m.Lookup(uint32(0), &perCPU); err != nil {
			return fmt.Errorf("read a previous agent's kernel stats: %w", err)
		}
		for _, c := range perCPU {
			for t := range typeLimit {
				all.LostPrevious[t] += c.Lost[t] + c.JudgedLost[t]
				judged.LostPrevious[t] += c.JudgedLost[t]
			}
		}
	}
	return nil
}

var (
	descEmitted = prometheus.NewDesc("vigil_sensor_kernel_events_total",
		"Events the kernel wrote to the ring buffer.", []string{"type"}, nil)
	descDelivered = prometheus.NewDesc("vigil_sensor_events_delivered_total",
		"Events decoded and handed to the agent's pipeline.", []string{"type"}, nil)
	descLost = prometheus.NewDesc("vigil_sensor_events_lost_total",
		"Events lost, by where: ring_buffer (kernel side full), queue (pipeline too slow) or previous_ring_buffer (the rings of the agent this one restarted from, full while no agent read them; counted since that agent's programs loaded, so it may repeat that agent's own ring_buffer count).",
		[]string{"type", "where"}, nil)
	descJudgedDelivered = prometheus.NewDesc("vigil_sensor_judged_events_delivered_total",
		"Events of containers judged against a profile (monitor, enforce modes) handed to the pipeline on their own path.",
		[]string{"type"}, nil)
	descJudgedLost = prometheus.NewDesc("vigil_sensor_judged_events_lost_total",
		"Events of containers judged against a profile lost on their own path, by where (as vigil_sensor_events_lost_total, which counts them too).",
		[]string{"type", "where"}, nil)
	descDecodeErrors = prometheus.NewDesc("vigil_sensor_decode_errors_total",
		"Ring-buffer records that could not be decoded and were dropped.", nil, nil)
	descTruncated = prometheus.NewDesc("vigil_sensor_paths_truncated_total",
		"Paths longer than the kernel buffer, reported truncated.", nil, nil)
	descUncontained = prometheus.NewDesc("vigil_sensor_uncontained_events_total",
		"Events of tasks not running a container's workload (the host's, the container runtime's), kept in the kernel: `vigil-agent run` judges only workloads.",
		[]string{"type"}, nil)
	descHostCgroup = prometheus.NewDesc("vigil_sensor_host_cgroup_events_total",
		"Events of tasks in a mount namespace of their own (sandboxed host services) in cgroups attribution found to be the host's, kept in the kernel: `vigil-agent run` judges only workloads.",
		[]string{"type"}, nil)
	descHandoverDuplicates = prometheus.NewDesc("vigil_sensor_handover_duplicates_total",
		"Records not delivered at an agent restart because the previous agent's programs, still attached, reported the same.", nil, nil)
	descEnforced = prometheus.NewDesc("vigil_enforcement_actions_total",
		"What the kernel did to enforce profiles: killed (signal tier) or denied (cgroup, LSM tiers).",
		[]string{"type", "action"}, nil)
)

// collector exports a Sensor's Stats, read at scrape time.
type collector struct{ s *Sensor }

// Collector returns a Prometheus collector for the sensor's counters.
func (s *Sensor) Collector() prometheus.Collector { return collector{s} }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEmitted, descDelivered, descLost, descJudgedDelivered, descJudgedLost, descDecodeErrors, descTruncated, descEnforced, descUncontained, descHostCgroup, descHandoverDuplicates, descHook} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.s.Stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descEmitted, err)
		return
	}
	for _, t := range AllTypes {
		name := t.String()
		ch <- prometheus.MustNewConstMetric(descEmitted, prometheus.CounterValue, float64(st.Emitted[t]), name)
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(st.Delivered[t]), name)
		ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(st.LostRingBuffer[t]), name, "ring_buffer")
		ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(st.DroppedQueue[t]), name, "queue")
		ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(st.LostPrevious[t]), name, "previous_ring_buffer")
		ch <- prometheus.MustNewConstMetric(descJudgedDelivered, prometheus.CounterValue, float64(st.Judged.Delivered[t]), name)
		ch <- prometheus.MustNewConstMetric(descJudgedLost, prometheus.CounterValue, float64(st.Judged.LostRingBuffer[t]), name, "ring_buffer")
		ch <- prometheus.MustNewConstMetric(descJudgedLost, prometheus.CounterValue, float64(st.Judged.DroppedQueue[t]), name, "queue")
		ch <- prometheus.MustNewConstMetric(descJudgedLost, prometheus.CounterValue, float64(st.Judged.LostPrevious[t]), name, "previous_ring_buffer")
		ch <- prometheus.MustNewConstMetric(descEnforced, prometheus.CounterValue, float64(st.Killed[t]), name, "killed")
		ch <- prometheus.MustNewConstMetric(descEnforced, prometheus.CounterValue, float64(st.Denied[t]), name, "denied")
		ch <- prometheus.MustNewConstMetric(descUncontained, prometheus.CounterValue, float64(st.Uncontained[t]), name)
		ch <- prometheus.MustNewConstMetric(descHostCgroup, prometheus.CounterValue, float64(st.HostCgroup[t]), name)
	}
	ch <- prometheus.MustNewConstMetric(descDecodeErrors, prometheus.CounterValue, float64(st.DecodeErrors))
	ch <- prometheus.MustNewConstMetric(descTruncated, prometheus.CounterValue, float64(st.PathsTruncated))
	var dup uint64
	if h := c.s.handover; h != nil {
		dup = h.duplicates.Load()
	}
	ch <- prometheus.MustNewConstMetric(descHandoverDuplicates, prometheus.CounterValue, float64(dup))
	for _, h := range c.s.Hooks() {
		ch <- prometheus.MustNewConstMetric(descHook, prometheus.GaugeValue, 1, h.Type.String(), h.Attach, h.Reason)
	}
}

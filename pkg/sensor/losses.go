package sensor

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"
)

// maxQueueLossCgroups bounds the cgroups whose queue losses are kept
// between drains; further ones are counted in Stats only (anyone's loss).
const maxQueueLossCgroups = 4096

// queueLosses counts the behaviour events the pipeline's queue had no room
// for, by cgroup.
type queueLosses struct {
	mu       sync.Mutex
	byCgroup map[uint64]uint64
}

func (q *queueLosses) add(ev *Event) {
	if !ev.Type.Learned() {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byCgroup == nil {
		q.byCgroup = map[uint64]uint64{}
	}
	if _, ok := q.byCgroup[ev.CgroupID]; ok || len(q.byCgroup) < maxQueueLossCgroups {
		q.byCgroup[ev.CgroupID]++
	}
}

func (q *queueLosses) drain() map[uint64]uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.byCgroup
	q.byCgroup = nil
	return out
}

// DrainLosses returns the exec, open, connect, capability and io_uring events lost
// (in either of the kernel's ring buffers or the pipeline's queues) since the last
// drain, by the cgroup of the task they were about, so that a loss can be
// charged to the containers it hit. It may hold fewer than Stats counts
// (the kernel keeps at most 4096 cgroups, the queue as many): the rest is
// anyone's.
func (s *Sensor) DrainLosses() (map[uint64]uint64, error) {
	out := s.queueLost.drain()
	if out == nil {
		out = map[uint64]uint64{}
	}
	m := s.objs.Map(bpfobj.RecordMapLostByCgroup)
	var (
		id, n uint64
		ids   []uint64
	)
	it := m.Iterate()
	for it.Next(&id, &n) {
		ids = append(ids, id)
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("read losses by cgroup: %w", err)
	}
	for _, id := range ids {
		// Taken and removed at once: a loss counted in between is kept
		// for the next drain.
		if err := m.LookupAndDelete(id, &n); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue // evicted by the LRU: anyone's
			}
			return out, fmt.Errorf("take losses of cgroup %d: %w", id, err)
		}
		out[id] += n
	}
	return out, nil
}

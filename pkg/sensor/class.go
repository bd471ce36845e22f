package sensor

import "github.com/vigil-dev/vigil/pkg/internal/bpfobj"

// class is the path an event takes from the kernel to the consumer: its
// own ring buffer, reader and queue.
type class uint8

const (
	// classOther is everything not judged: learning containers, the host.
	classOther class = iota
	// classJudged is the events of containers judged against a profile
	// (monitor and enforce modes), which the kernel writes to a ring
	// buffer of their own.
	classJudged
	classLimit
)

// ringMaps are the ring buffers of the classes.
var ringMaps = [classLimit]string{classOther: bpfobj.RecordMapEvents, classJudged: bpfobj.RecordMapJudgedEvents}

package enforce

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"

	"github.com/cilium/ebpf"
)

// ProbeLSM loads (never attaches) a BPF LSM program and reports why it
// could not be loaded, or nil. Feature probes are not enough: on some
// kernels the LSM is built and listed but its programs still fail (EPERM).
func ProbeLSM() error {
	if err := rlimit.RemoveMemlock(); err != nil { // old kernels charge maps to memlock
		return fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := bpfobj.LoadLsmprobe()
	if err != nil {
		return fmt.Errorf("load LSM probe spec: %w", err)
	}
	coll, err := ebpf.NewCollection(spec)
	if errors.Is(err, unix.EPERM) {
		// Not memlock, whatever the library suggests: the kernel refuses
		// trampoline programs (fentry, LSM) on this machine.
		return fmt.Errorf("load BPF LSM program: %w", unix.EPERM)
	}
	if err != nil {
		return fmt.Errorf("load BPF LSM program: %w", err)
	}
	coll.Close()
	return nil
}

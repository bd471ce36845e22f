package bpfobj

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Probe loads a family's programs on maps of their own, the ring buffers
// a page each, and attaches none: nil when they load on this kernel, else
// why not. For a report without a running agent (vigil-agent status).
func Probe(f Family) error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := f.spec()
	if err != nil {
		return fmt.Errorf("load %s spec: %w", f.Name, err)
	}
	for _, ms := range spec.Maps {
		if ms.Type == ebpf.RingBuf {
			ms.MaxEntries = uint32(os.Getpagesize())
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return loadError(f, err)
	}
	coll.Close()
	return nil
}

// loadError says why a family's programs did not load. The library's
// hint for EPERM (raise MEMLOCK) is wrong for trampoline programs: a
// kernel that refuses them says EPERM whatever the limit.
func loadError(f Family, err error) error {
	var verr *ebpf.VerifierError
	switch {
	case f.trampoline && errors.Is(err, unix.EPERM):
		return fmt.Errorf("load %s programs: the kernel refuses BPF trampoline programs: %w", f.Name, unix.EPERM)
	case errors.As(err, &verr):
		return fmt.Errorf("load %s programs: %w", f.Name, verr)
	}
	return fmt.Errorf("load %s programs: %w", f.Name, err)
}

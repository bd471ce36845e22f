package enforce

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/internal/bpfobj"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// ProbeLSM attaches a BPF LSM program for a moment and reports why BPF LSM
// does not run here, or nil. Feature probes are not enough, nor is
// loading: on some kernels the LSM is built and listed but its programs
// still fail (EPERM), and a kernel built with BPF LSM but booted without
// "bpf" in lsm= (Ubuntu's) loads and attaches them and never calls them.
func ProbeLSM() error {
	if err := rlimit.RemoveMemlock(); err != nil { // old kernels charge maps to memlock
		return fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := bpfobj.LoadLsmprobe()
	if err != nil {
		return fmt.Errorf("load LSM probe spec: %w", err)
	}
	if err := spec.Variables[bpfobj.LsmprobeVarProbeTgid].Set(uint32(os.Getpid())); err != nil {
		return fmt.Errorf("set LSM probe's process: %w", err)
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
	defer coll.Close()
	l, err := link.AttachLSM(link.LSMOptions{Program: coll.Programs[bpfobj.LsmprobeProgProbeLsm]})
	if err != nil {
		return fmt.Errorf("attach BPF LSM program: %w", err)
	}
	_, sidErr := unix.Getsid(os.Getpid()) // getsid(0) does not ask the LSMs
	var calls uint32
	err = coll.Variables[bpfobj.LsmprobeVarProbeCalls].Get(&calls)
	if closeErr := l.Close(); err == nil {
		err = closeErr
	}
	switch {
	case err != nil:
		return fmt.Errorf("read BPF LSM probe: %w", err)
	case sidErr != nil:
		return fmt.Errorf("call the BPF LSM probe's hook: %w", sidErr)
	case calls == 0:
		return errors.New(`BPF LSM programs load but the kernel never calls them: "bpf" is not among its LSMs (lsm= on its command line)`)
	}
	return nil
}

// ProbeUnixConnect loads (never attaches) a cgroup/connect_unix program
// and reports why it could not be loaded, or nil: kernels before 6.7 do
// not know the attach type.
func ProbeUnixConnect() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:       ebpf.CGroupSockAddr,
		AttachType: ebpf.AttachCgroupUnixConnect,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 1),
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		return fmt.Errorf("load cgroup/connect_unix program: %w", err)
	}
	prog.Close()
	return nil
}

// ProbeModReturn loads (never attaches) the LSM programs as fmod_ret
// programs on the kernel's security_ functions, on maps of their own, and
// reports why they could not be loaded, or nil. Kernels with BPF
// trampolines load them whether or not BPF LSM is enabled.
func ProbeModReturn() error {
	return bpfobj.Probe(bpfobj.FamilyModReturn)
}

// ForThisNode returns c set for what this node's kernel runs: the BPF LSM
// programs where they load, else the same programs as fmod_ret where
// those load, else the cgroup connect guard where c has a cgroup2 mount to
// attach it to; and the unix connect guard wherever it loads and there is
// a cgroup2 mount. The probes say why the better ones do not load.
func (c KernelConfig) ForThisNode() (KernelConfig, Probes) {
	var p Probes
	p.LSM = ProbeLSM()
	if p.LSM != nil {
		p.ModReturn = ProbeModReturn()
	}
	c.LSM = p.LSM == nil
	c.ModReturn = !c.LSM && p.ModReturn == nil
	c.GuardConnect = !c.LSM && !c.ModReturn && c.CgroupRoot != ""
	c.GuardUnix = c.CgroupRoot != "" && ProbeUnixConnect() == nil
	return c, p
}

package main

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// bareSysExit attaches a program that does nothing to tp_btf/sys_exit, the
// hook the open and connect sensors use. Enabling a syscall tracepoint moves
// every system call of the node onto the kernel's slow entry and exit path:
// this is the floor any sensor on that hook pays before its own work.
func bareSysExit() condition {
	return condition{
		name:    "bare sys_exit hook",
		command: "a 2-instruction tp_btf/sys_exit program (return 0) attached in the bench process",
		start: func(*bench) (environment, error) {
			prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
				Type:         ebpf.Tracing,
				AttachType:   ebpf.AttachTraceRawTp,
				AttachTo:     "sys_exit",
				License:      "GPL",
				Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
			})
			if err != nil {
				return nil, fmt.Errorf("load the bare sys_exit program: %w", err)
			}
			l, err := link.AttachTracing(link.TracingOptions{Program: prog})
			if err != nil {
				prog.Close()
				return nil, fmt.Errorf("attach the bare sys_exit program: %w", err)
			}
			return &attached{prog: prog, link: l}, nil
		},
	}
}

// attached has no agent to sample: only its program runs.
type attached struct {
	nothing
	prog *ebpf.Program
	link link.Link
}

func (a *attached) stop() error {
	err := a.link.Close()
	a.prog.Close()
	return err
}

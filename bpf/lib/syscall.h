/* SPDX-License-Identifier: GPL-2.0 */
/*
 * System-call exits on x86-64. At sys_exit the saved user registers still hold
 * the arguments, so one exit program sees arguments and result without a
 * per-call entry program and map. ia32 calls (int 0x80, also from 64-bit
 * processes) use other numbers and registers; they are decoded too, so they
 * cannot be used to hide an open or connect.
 */
#ifndef VIGIL_SYSCALL_H
#define VIGIL_SYSCALL_H

#include "common.h"

#define TS_COMPAT 0x0002

enum syscall_nr {
	NR_OPEN,
	NR_CREAT,
	NR_OPENAT,
	NR_OPENAT2,
	NR_CONNECT,
	NR_OTHER,
};

struct syscall {
	enum syscall_nr nr;
	bool compat;
	unsigned long arg[3];
};

static __always_inline enum syscall_nr x86_64_nr(long nr)
{
	switch (nr) {
	case 2: return NR_OPEN;
	case 85: return NR_CREAT;
	case 257: return NR_OPENAT;
	case 437: return NR_OPENAT2;
	case 42: return NR_CONNECT;
	}
	return NR_OTHER;
}

static __always_inline enum syscall_nr ia32_nr(long nr)
{
	switch (nr) {
	case 5: return NR_OPEN;
	case 8: return NR_CREAT;
	case 295: return NR_OPENAT;
	case 437: return NR_OPENAT2;
	case 362: return NR_CONNECT;
	}
	return NR_OTHER;
}

/* followed tells whether nr, native or ia32, may be a call vigil follows:
 * the one test every other call of the node pays, on the register alone,
 * before the task or anything else is read. */
static __always_inline bool followed(long nr)
{
	switch (nr) {
	case 2: case 5: case 8: case 42: case 85: case 257: case 295: case 362: case 437:
		return true;
	}
	return false;
}

/* decode_syscall reads the call's number and first three arguments from regs. */
static __always_inline void decode_syscall(struct pt_regs *regs, struct syscall *sc)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long nr = regs->orig_ax;

	sc->compat = task->thread_info.status & TS_COMPAT;
	if (sc->compat) {
		sc->nr = ia32_nr(nr);
		sc->arg[0] = (__u32)regs->bx;
		sc->arg[1] = (__u32)regs->cx;
		sc->arg[2] = (__u32)regs->dx;
	} else {
		sc->nr = x86_64_nr(nr);
		sc->arg[0] = regs->di;
		sc->arg[1] = regs->si;
		sc->arg[2] = regs->dx;
	}
}

#endif /* VIGIL_SYSCALL_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Whether the fanotify listener judges opens now, for the open guard
 * (open_guard.bpf.c), which applies the signal tier to opens while it does
 * not: the agent refreshes the heartbeat while its listener runs and clears
 * it before the listener stops; a heartbeat older than listener_stale_ns is
 * a listener gone with its agent (a crash).
 */
#ifndef VIGIL_GUARD_H
#define VIGIL_GUARD_H

#include "common.h"

#define SIGKILL_BIT (1ULL << (9 - 1))

/* The listener's last heartbeat (bpf_ktime_get_ns, CLOCK_MONOTONIC); 0: no listener. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} open_listener SEC(".maps");

/* Set at load time: how old a heartbeat may be before the listener is taken for dead. */
const volatile __u64 listener_stale_ns = 300000000;

static __always_inline bool listener_alive(void)
{
	__u32 zero = 0;
	__u64 *beat = bpf_map_lookup_elem(&open_listener, &zero);

	return beat && *beat && bpf_ktime_get_ns() - *beat < listener_stale_ns;
}

/* Set at load time in the families that trace opens, where this agent's open
 * guard is attached (loaded before them): an open the guard kills is then
 * its to report, whichever program runs first at the open's exit (a fexit
 * program runs before every sys_exit one; two at sys_exit in the order they
 * were attached). */
const volatile bool open_guarded = false;

/* guards reports whether the open guard judges the opens task makes under
 * pol, a container's policy or NULL, now. */
static __always_inline bool guards(struct scope_policy *pol, struct task_struct *task)
{
	return pol && (pol->enforce & VIGIL_ENFORCE_OPEN) && task_contained(task) && !listener_alive();
}

/* being_killed reports whether task has a SIGKILL pending: a guard killed
 * it at this very exit (either agent generation's), so its open is
 * reported once, as killed, and never read. */
static __always_inline bool being_killed(struct task_struct *task)
{
	return BPF_CORE_READ(task, pending.signal.sig[0]) & SIGKILL_BIT;
}

#endif /* VIGIL_GUARD_H */

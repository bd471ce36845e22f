// SPDX-License-Identifier: GPL-2.0
/*
 * Never loaded: it puts every record of vigil.h into BTF so that bpf2go
 * -type can mirror them into Go from one place, and declares every map the
 * families share, which userspace creates once from this object's specs.
 */
#include "lib/common.h"
#include "lib/policy.h"
#include "lib/learn.h"
#include "lib/capability.h"
#include "lib/syscall.h"
#include "lib/guard.h"

const struct event_header *unused_event_header __attribute__((unused));
const struct exec_event *unused_exec_event __attribute__((unused));
const struct open_event *unused_open_event __attribute__((unused));
const struct connect_event *unused_connect_event __attribute__((unused));
const struct capability_event *unused_capability_event __attribute__((unused));
const struct io_uring_event *unused_io_uring_event __attribute__((unused));
const enum vigil_io_uring_op *unused_io_uring_op __attribute__((unused));
const struct fork_event *unused_fork_event __attribute__((unused));
const struct exit_event *unused_exit_event __attribute__((unused));
const struct sensor_stats *unused_sensor_stats __attribute__((unused));
const enum vigil_event_type *unused_event_type __attribute__((unused));
const enum vigil_event_flag *unused_event_flag __attribute__((unused));
const enum vigil_cgroup_filter *unused_cgroup_filter __attribute__((unused));
const enum vigil_enforce *unused_enforce __attribute__((unused));
const enum vigil_path_match *unused_path_match __attribute__((unused));
const enum vigil_path_list *unused_path_list __attribute__((unused));
const enum vigil_exec_origin *unused_exec_origin __attribute__((unused));
const enum vigil_applet *unused_applet __attribute__((unused));
const struct scope_policy *unused_scope_policy __attribute__((unused));
const struct path_rule_key *unused_path_rule_key __attribute__((unused));
const struct net_rule_key *unused_net_rule_key __attribute__((unused));
const struct known_open *unused_known_open __attribute__((unused));
const enum syscall_nr *unused_syscall_nr __attribute__((unused));

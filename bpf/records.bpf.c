// SPDX-License-Identifier: GPL-2.0
/*
 * Never loaded: it only puts every record of vigil.h into BTF so that
 * bpf2go -type can mirror them into Go from one place.
 */
#include "lib/common.h"

const struct event_header *unused_event_header __attribute__((unused));
const struct exec_event *unused_exec_event __attribute__((unused));
const struct open_event *unused_open_event __attribute__((unused));
const struct connect_event *unused_connect_event __attribute__((unused));
const struct capability_event *unused_capability_event __attribute__((unused));
const struct fork_event *unused_fork_event __attribute__((unused));
const struct exit_event *unused_exit_event __attribute__((unused));
const struct sensor_stats *unused_sensor_stats __attribute__((unused));
const enum vigil_event_type *unused_event_type __attribute__((unused));
const enum vigil_event_flag *unused_event_flag __attribute__((unused));
const enum vigil_cgroup_filter *unused_cgroup_filter __attribute__((unused));

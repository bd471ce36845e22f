package bpfobj

// One object per hook family; records.bpf.c is never loaded, it carries the
// record types every family shares so their Go mirrors are generated once.
//go:generate go tool bpf2go -target amd64 -type event_header -type exec_event -type open_event -type connect_event -type capability_event -type io_uring_event -type vigil_io_uring_op -type fork_event -type exit_event -type sensor_stats -type vigil_event_type -type vigil_event_flag -type vigil_cgroup_filter -type vigil_enforce -type vigil_path_match -type vigil_path_list -type vigil_exec_origin -type vigil_applet -type scope_policy -type path_rule_key -type net_rule_key -type known_open -type syscall_nr Record ../../../bpf/records.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Exec ../../../bpf/exec.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Process ../../../bpf/process.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Sysexit ../../../bpf/sys_exit.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Openfexit ../../../bpf/open_fexit.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Connectfexit ../../../bpf/connect_fexit.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Openguard ../../../bpf/open_guard.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Capable ../../../bpf/capable.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Capablefexit ../../../bpf/capable_fexit.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Iouring ../../../bpf/io_uring.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Guard ../../../bpf/connect_guard.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Unixguard ../../../bpf/connect_unix.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Lsmprobe ../../../bpf/lsm_probe.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
//go:generate go tool bpf2go -target amd64 -no-global-types Lsm ../../../bpf/lsm.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror

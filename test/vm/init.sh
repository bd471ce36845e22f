#!/bin/busybox sh
# /init of the vigil test VM. Mounts what a BPF agent and its tests expect,
# loads the modules 9p needs, mounts the host's control directory and runs
# the script the host left there; its exit status goes back through the same
# directory. Anything that goes wrong before that is reported on the console,
# which the host shows when no exit status arrives.
/bin/busybox --install -s

die() {
	echo "vm-init: $*"
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup

while read -r m; do
	[ -n "$m" ] || continue
	insmod "/lib/vigil-vm/$m.ko" || die "insmod $m failed"
done </lib/vigil-vm/order
ip link set lo up || die "cannot bring lo up"

opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts" ctl /vm/ctl || die "cannot mount the control share"
modules="/lib/modules/$(uname -r)"
mkdir -p "$modules"
mount -t 9p -o "$opts,ro" modules "$modules" || die "cannot mount the module share"

cut -d' ' -f1 /proc/uptime >/vm/ctl/uptime
sh /vm/ctl/run.sh
echo $? >/vm/ctl/exit
sync
poweroff -f

#!/usr/bin/env bash
# Runs a command in a fresh Debian 12 root, so that CI sees what a new user's
# machine has: Go (this machine's toolchain, copied in), git, make, and
# nothing that earlier work installed, built or generated. An install step,
# directory or package the repository's own scripts forget fails here as it
# would for that user.
#   .ci/freshroot.sh make test
# The command runs as root in /src/vigil, a clone of this repository's HEAD
# (commit first: uncommitted changes are not taken), with HOME=/root and an
# empty Go build cache. The root shares this machine's kernel, /proc, /sys,
# /dev and cgroups, so BPF, containerd and qemu work in it; it has its own
# mount namespace (its mounts, bpffs pins among them, go when it ends) and is
# removed afterwards, with every process left running in it.
# What is cached across runs (outside the clone), none of it state a new user
# lacks: the debootstrapped base tarball, downloaded .debs (apt still
# installs each package afresh), downloaded Go modules, the root
# filesystems test/apps builds from Debian's packages (as a user's
# /var/cache/vigil-apps keeps them), and the kube-apiserver and kubectl
# test/kube/build.sh builds (as a user's /var/cache/vigil-kube keeps them:
# 15-75 minutes the first time, so a CI run rebuilds them only when their
# version changes). On this machine /var/cache/vigil-kube is a symlink to
# $cache/kube, so a build made outside CI serves CI too.
#   VIGIL_CI_CACHE  the cache directory (default /var/cache/vigil-ci)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

if [[ $# -eq 0 ]]; then
	echo "usage: $0 COMMAND [ARG...]" >&2
	exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "freshroot: run as root (it unpacks a root and mounts into it)" >&2
	exit 1
fi

cache=${VIGIL_CI_CACHE:-/var/cache/vigil-ci}
# What a fresh machine of the project's kind has besides Go.
base_packages=ca-certificates,git,make
mkdir -p "$cache/apt-archives/partial" "$cache/gomod" "$cache/apps" "$cache/kube"

if ! command -v mmdebstrap >/dev/null; then
	echo "freshroot: installing mmdebstrap" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

tarball=$cache/bookworm-minbase-$(echo "$base_packages" | sha256sum | cut -c1-12).tar
exec {lock}>"$cache/.lock"
flock "$lock"
if [[ ! -f $tarball ]]; then
	echo "freshroot: making the base root $tarball (once)" >&2
	mmdebstrap --quiet --variant=minbase --include="$base_packages" bookworm "$tarball.new.tar"
	mv "$tarball.new.tar" "$tarball"
fi
flock -u "$lock"

work=$(mktemp -d /var/tmp/vigil-freshroot.XXXXXX)
root=$work/root
# Ends whatever the command left running (a containerd, its shims and their
# containers, a qemu): every process in the root's mount namespace and every
# descendant of one; then removes the root. The mounts go with the namespace.
cleanup() {
	local rootns pid ppid left
	if rootns=$(cat "$work/mntns" 2>/dev/null); then
		for _ in 1 2 3 4 5; do
			declare -A doomed=() parent=()
			for pid in /proc/[0-9]*; do
				pid=${pid#/proc/}
				ppid=$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null) && parent[$pid]=$ppid
				[[ $(readlink "/proc/$pid/ns/mnt" 2>/dev/null) == "$rootns" ]] && doomed[$pid]=1
			done
			left=${#doomed[@]}
			for pid in "${!parent[@]}"; do
				ppid=${parent[$pid]}
				while [[ -n $ppid && $ppid != 0 && $ppid != 1 ]]; do
					[[ -n ${doomed[$ppid]:-} ]] && { doomed[$pid]=1; break; }
					ppid=${parent[$ppid]:-}
				done
			done
			((${#doomed[@]})) || break
			kill -KILL "${!doomed[@]}" 2>/dev/null || true
			sleep 1
		done
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

mkdir -p "$root"
tar -xf "$tarball" -C "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This machine's own trust anchors (a proxy's CA, for one) are on every
# machine of its kind: the ones Debian's bundle lacks go into the root's.
certs=$work/certs
mkdir -p "$certs"
awk -v dir="$certs" '/BEGIN CERTIFICATE/ { f = sprintf("%s/%04d.crt", dir, ++n) } f { print > f } /END CERTIFICATE/ { close(f); f = "" }' \
	/etc/ssl/certs/ca-certificates.crt
for crt in "$certs"/*.crt; do
	if ! grep -qxF "$(sed -n 2p "$crt")" "$root/etc/ssl/certs/ca-certificates.crt"; then
		cp "$crt" "$root/usr/local/share/ca-certificates/machine-${crt##*/}"
	fi
done
chroot "$root" update-ca-certificates >/dev/null 2>&1
mkdir -p "$root/usr/local"
cp -a "$(go env GOROOT)" "$root/usr/local/go"
git clone --quiet --no-local "$src" "$root/src/vigil"
echo "freshroot: $(git -C "$root/src/vigil" log -1 --format='%h %s') in a fresh bookworm root at $root" >&2

# Settings of this machine's Go that a user's machine would have too (a
# module proxy, for instance); nothing else of this environment goes in.
goenv=()
for v in GOPROXY GOSUMDB GONOSUMDB GOPRIVATE GONOPROXY GOFLAGS GOTOOLCHAIN http_proxy https_proxy no_proxy CI; do
	[[ -n ${!v:-} ]] && goenv+=("$v=${!v}")
done

# The root becomes its mount namespace's root (pivot_root, not chroot): the
# agent names files from the root of their mount namespace, so under a chroot
# every path the tests expect would carry the root's directory.
unshare --mount --propagation private -- /bin/bash -euo pipefail -c '
	root=$1 cache=$2; shift 2
	readlink /proc/self/ns/mnt >"$root/../mntns"
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --rbind /dev "$root/dev"
	mount -t tmpfs -o mode=0755 tmpfs "$root/run"
	mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
	mkdir -p "$root/root/go/pkg/mod" "$root/var/cache/vigil-apps" "$root/var/cache/vigil-kube" "$root/.oldroot"
	mount --bind "$cache/gomod" "$root/root/go/pkg/mod"
	mount --bind "$cache/apps" "$root/var/cache/vigil-apps"
	mount --bind "$cache/kube" "$root/var/cache/vigil-kube"
	cd "$root"
	pivot_root . .oldroot
	umount -l /.oldroot
	rmdir /.oldroot
	exec "$@"
' freshroot "$root" "$cache" \
	env -i HOME=/root PATH=/usr/local/go/bin:/root/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 TERM=dumb "${goenv[@]}" \
	/bin/bash -c 'cd /src/vigil && exec "$@"' freshroot "$@"

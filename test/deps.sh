#!/usr/bin/env bash
# Installs, from Debian's packages, what building and testing vigil needs and a
# fresh machine lacks. Idempotent: packages already present are not touched.
#   test/deps.sh test       what `make test` needs (runtime of the tests)
#   test/deps.sh generate   what `make generate` needs (clang, bpftool, protoc)
#   test/deps.sh vm         what the test VM needs (test/vm; `make test` and `make vmtest`)
#   test/deps.sh image      what `make image` needs (buildah, the OCI runtime
#                           its RUN steps use, and what the stand-in Go build
#                           image is assembled from)
#   test/deps.sh race       what `make race` needs (cgo: gcc and libc headers)
#   test/deps.sh demo       what `make demo` needs (containerd, runc, busybox-static)
#   test/deps.sh apps       what test/apps needs besides `test` (mmdebstrap, which
#                           builds its images of real software from Debian's packages)
#   test/deps.sh kube       what test/kubeenv's API server stores its state in
#                           (etcd-server; test/kube/build.sh builds the API server)
set -euo pipefail

declare -A want=(
	[test]="containerd runc busybox-static postgresql patch buildah ca-certificates"
	[generate]="clang-14 llvm-14 libbpf-dev bpftool protobuf-compiler libprotobuf-dev"
	[bench]="containerd runc busybox-static"
	[vm]="qemu-system-x86 busybox-static kmod xz-utils"
	[image]="buildah runc busybox-static ca-certificates"
	[race]="gcc libc6-dev"
	[demo]="containerd runc busybox-static"
	[apps]="mmdebstrap"
	[kube]="etcd-server"
)

pkgs=()
for set in "$@"; do
	[[ -v want[$set] ]] || { echo "deps.sh: unknown set '$set' (want: ${!want[*]})" >&2; exit 2; }
	for p in ${want[$set]}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || pkgs+=("$p")
	done
done
((${#pkgs[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps.sh: need root to install: ${pkgs[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null

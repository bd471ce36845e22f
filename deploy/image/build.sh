#!/usr/bin/env bash
# Builds the Dockerfile's images with buildah (daemonless; as root, vfs
# storage) and writes each as an OCI archive:
#   $OUT/vigil-agent.oci.tar       localhost/vigil-agent:$VERSION
#   $OUT/vigil-collector.oci.tar   localhost/vigil-collector:$VERSION
#
# With a registry in reach, `docker build --target agent .` (or buildah bud)
# of the Dockerfile as it is does the same. This project's machines reach no
# registry, so its `FROM golang:...` cannot be pulled: this script assembles
# a stand-in build image from this machine's Go toolchain (go env GOROOT),
# busybox-static (the /bin/sh RUN needs) and the CA bundle, passes it as
# GO_IMAGE, and mounts the Go module and build caches into the build, which
# so needs no network and recompiles only what changed. The final images are
# FROM scratch either way.
#   VERSION       image tag and buildinfo version (default: dev)
#   OUT           where the archives go (default: bin/images)
#   BUILDAH_ROOT  buildah's storage (default: /var/tmp/vigil-buildah)
set -euo pipefail
cd "$(dirname "$0")/../.."

version=${VERSION:-dev}
out=${OUT:-bin/images}
store=${BUILDAH_ROOT:-/var/tmp/vigil-buildah}
bh=(buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs)

if [[ $(id -u) -ne 0 ]]; then
	echo "build.sh: buildah with the vfs driver runs as root here" >&2
	exit 1
fi
for need in buildah /bin/busybox /etc/ssl/certs/ca-certificates.crt; do
	if ! command -v "$need" >/dev/null && [[ ! -e $need ]]; then
		echo "build.sh: missing $need: run test/deps.sh image" >&2
		exit 1
	fi
done

goroot=$(go env GOROOT)
goversion=$(go env GOVERSION)
goimage=localhost/vigil-go-toolchain:$goversion
if [[ -z $("${bh[@]}" images -q "$goimage" 2>/dev/null) ]]; then
	echo "build.sh: assembling $goimage from $goroot" >&2
	ctr=$("${bh[@]}" from scratch)
	trap '"${bh[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
	root=$("${bh[@]}" mount "$ctr")
	mkdir -p "$root/bin" "$root/usr/local" "$root/etc/ssl/certs" "$root/tmp" "$root/go" "$root/root"
	chmod 1777 "$root/tmp"
	cp /bin/busybox "$root/bin/busybox"
	for applet in sh cp mkdir printf chmod chown; do
		ln -s busybox "$root/bin/$applet"
	done
	cp -a "$goroot" "$root/usr/local/go"
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
	"${bh[@]}" config --env PATH=/usr/local/go/bin:/go/bin:/bin --env GOPATH=/go \
		--env GOMODCACHE=/go/pkg/mod --env GOCACHE=/root/.cache/go-build --env GOPROXY=off \
		--workingdir /go "$ctr"
	"${bh[@]}" umount "$ctr" >/dev/null
	"${bh[@]}" commit --quiet "$ctr" "$goimage" >/dev/null
fi

modcache=$(go env GOMODCACHE)
gocache=$(go env GOCACHE)
go mod download # the build reads modules from the mounted cache only
mkdir -p "$out" "$gocache" # a machine that never built Go has no build cache yet
for target in agent collector; do
	image=localhost/vigil-$target:$version
	"${bh[@]}" bud --quiet --pull=never --layers=false \
		--build-arg GO_IMAGE="$goimage" --build-arg VERSION="$version" \
		--volume "$modcache:/go/pkg/mod:ro" --volume "$gocache:/root/.cache/go-build" \
		--target "$target" --tag "$image" . >/dev/null
	rm -f "$out/vigil-$target.oci.tar"
	"${bh[@]}" push --quiet "$image" "oci-archive:$out/vigil-$target.oci.tar:$image"
	"${bh[@]}" rmi "$image" >/dev/null # the archive is the product; storage keeps the toolchain only
	echo "$out/vigil-$target.oci.tar ($image)"
done

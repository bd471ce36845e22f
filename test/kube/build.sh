#!/usr/bin/env bash
# Builds kube-apiserver and kubectl from Kubernetes' published Go modules into
# ${VIGIL_KUBE_CACHE:-/var/cache/vigil-kube}/v1.37.2/, where test/kubeenv finds
# them. No release binary is downloadable here (no container registry, no
# dl.k8s.io), but the module proxy has k8s.io/kubernetes and its staging
# modules: a scratch module requires k8s.io/kubernetes and replaces each
# staging module (which k8s.io/kubernetes' go.mod points at ./staging, absent
# from the module zip) by its published v0.x release.
# Idempotent: exits at once when both binaries are there and run. The first
# build takes 15-75 minutes on two cores; it builds into a temporary
# directory beside the target, moves the result in place whole, and removes
# its scratch module and build cache (several GB) afterwards.
#   test/kube/build.sh
set -euo pipefail

version=v1.37.2
staging=v0.${version#v1.}
cache=${VIGIL_KUBE_CACHE:-/var/cache/vigil-kube}
dest=$cache/$version

works() {
	[[ -x $dest/kube-apiserver && -x $dest/kubectl ]] &&
		"$dest/kube-apiserver" --version >/dev/null 2>&1 &&
		"$dest/kubectl" version --client >/dev/null 2>&1
}
works && exit 0

mkdir -p "$cache"
# One build at a time: a second caller waits for the first and then finds
# the binaries.
exec {lock}>"$cache/.build.lock"
flock "$lock"
works && exit 0

# Beside the target, so that the final rename stays on one filesystem.
scratch=$(mktemp -d "$cache/.build-$version.XXXXXX")
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
start=$SECONDS
echo "kube/build.sh: building kube-apiserver and kubectl $version into $dest (15-75 minutes the first time)" >&2

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOCACHE=$scratch/gocache GOWORK=off
mod=$scratch/mod
mkdir -p "$mod"
cd "$mod"
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[[ -f $gomod ]] || { echo "kube/build.sh: no go.mod for k8s.io/kubernetes@$version" >&2; exit 1; }
# The staging modules are exactly those k8s.io/kubernetes replaces by a
# directory of its own tree.
mapfile -t modules < <(sed -n 's|^\t\(k8s\.io/[^ ]*\) => \./staging/.*|\1|p' "$gomod")
((${#modules[@]} > 0)) || { echo "kube/build.sh: no staging modules in $gomod" >&2; exit 1; }
{
	echo "module vigil.dev/kube-build"
	echo
	sed -n 's/^go \(.*\)/go \1/p' "$gomod"
	echo
	echo "require k8s.io/kubernetes $version"
	echo
	echo "replace ("
	for m in "${modules[@]}"; do
		printf '\t%s => %s %s\n' "$m" "$m" "$staging"
	done
	echo ")"
} >go.mod
go get "k8s.io/kubernetes/cmd/kube-apiserver@$version" "k8s.io/kubernetes/cmd/kubectl@$version"

# What Kubernetes' own release build stamps (hack/lib/version.sh): the
# server reports its real version, and kubectl's skew check compares real
# versions.
minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
out=$scratch/out
go build -trimpath -ldflags "$ldflags" -o "$out/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
"$out/kube-apiserver" --version >&2
"$out/kubectl" version --client >&2

rm -rf "$dest"
mv "$out" "$dest"
echo "kube/build.sh: built $dest in $((SECONDS - start)) s: $(du -sh "$dest/kube-apiserver" | cut -f1) kube-apiserver, $(du -sh "$dest/kubectl" | cut -f1) kubectl" >&2

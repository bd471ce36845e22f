// Package deploy tests what ships to a cluster: the kustomize manifests in
// deploy/daemonset (strictly valid Kubernetes objects, built by kustomize's
// own library, with the security properties the README promises), the
// configuration files against the real commands' flags, and the container
// image built from the Dockerfile, run by a real containerd with the
// DaemonSet's capabilities and mounts.
//
// The tests live in _test.go files only; this package has no API.
package deploy

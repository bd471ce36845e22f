// Package posture judges what a container may do from its OCI runtime
// spec: the privileges it was given (capabilities, host namespaces, host
// mounts, root, seccomp, no_new_privs, a writable root file system), which
// Kubernetes Pod Security Standards level those meet, and, given what its
// learned profile used, the capabilities it holds and never used. It has
// no Linux-only imports: vigilctl prints its names on any OS.
package posture

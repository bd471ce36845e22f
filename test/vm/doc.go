// Package vm runs a program, typically a Go test binary, inside a throwaway
// QEMU guest that boots Debian's kernel, so that tests can exercise kernel
// features the host does not offer (BPF LSM programs, above all).
//
// Prepare fetches the kernel package with apt, extracts an uncompressed
// vmlinux and the modules, and builds an initramfs around a static busybox;
// all of it is cached, keyed by the kernel package's version. Image.Run boots
// the guest under TCG with the program's directory and other host
// directories shared over 9p at the same paths, runs the program as root
// with exactly the environment it is given, streams its stdout and stderr
// back, returns its exit code and kills the guest at a hard deadline.
// cmd/vmexec wraps this for `go test -exec`.
package vm

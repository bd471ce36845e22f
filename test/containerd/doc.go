// Package containerdtest runs a private containerd for tests and builds the
// container images they use, with no registry and no systemd.
//
// Start gives a containerd with its own root, state and sockets under a temp
// dir, stopped (with every container it ran) in t.Cleanup. Images are OCI
// image-layout tars built in Go (BusyboxImage, ProbeImage) and imported with
// Daemon.Import. Daemon.Run starts a container from an image; Container.Exec
// runs a process inside it, like `ctr task exec`.
//
// The daemon and the image builder are package ctrd's, which returns errors
// instead of failing a test so that commands (test/demo) use them too.
//
// The harness installs nothing: test/deps.sh installs containerd, runc and
// busybox-static, and Start fails with a message naming what is missing.
package containerdtest

// Package ctrd runs a private containerd and builds container images as OCI
// image-layout tars, with no registry and no systemd. It returns errors where
// the test harness built on it (test/containerd) fails a test, so that
// commands use it too (the demo, test/demo).
//
// New and Start give a containerd with its own root, state and sockets under
// a directory; Close removes every container it ran, stops it, and removes
// the directory. BuildImage writes a one-layer image from a list of files;
// WriteImage an image of several layers (FilesLayer makes one from files),
// streamed from their tars (test/appimage's images of real software).
package ctrd

// Package appimage builds container images of real software from Debian's
// packages, for tests that run real applications under the agent.
//
// A Recipe names Debian packages and the application's own files. Build
// makes the root filesystem with mmdebstrap (bookworm, the apt variant, no
// manuals, docs or translations) and keeps it in a cache directory outside
// the clone, keyed by a hash of the mmdebstrap command line, so a machine
// builds each package set once; the application's files are a second
// layer, made anew each time. The image is an OCI image-layout tar of the
// two uncompressed layers, for the containerd harness's Daemon.Import.
//
// Nothing is installed here: test/deps.sh apps installs mmdebstrap, and
// Build fails naming it when it is missing.
package appimage

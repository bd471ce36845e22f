// Package buildinfo carries the version stamped into vigil's binaries at link time.
package buildinfo

// Version is set by the Makefile with -ldflags "-X …/buildinfo.Version=…".
var Version = "dev"

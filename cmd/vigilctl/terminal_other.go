//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd && !windows

package main

import "os"

// isTerminal cannot tell on this system: no colour unless asked for.
func isTerminal(*os.File) bool { return false }

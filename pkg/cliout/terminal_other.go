//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd && !windows

package cliout

import "os"

// IsTerminal cannot tell on this system: no colour unless asked for.
func IsTerminal(*os.File) bool { return false }

//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package cliout

import (
	"os"

	"golang.org/x/sys/unix"
)

// IsTerminal tells whether f is a terminal: it has terminal attributes
// (TIOCGETA is the BSDs' and macOS's TCGETS).
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TIOCGETA)
	return err == nil
}

package cliout

import (
	"os"

	"golang.org/x/sys/unix"
)

// IsTerminal tells whether f is a terminal: it has terminal attributes.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

package cliout

import (
	"os"

	"golang.org/x/sys/windows"
)

// IsTerminal tells whether f is a console: it has a console mode.
func IsTerminal(f *os.File) bool {
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(f.Fd()), &mode) == nil
}

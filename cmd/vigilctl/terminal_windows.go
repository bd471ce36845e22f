package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// isTerminal tells whether f is a console: it has a console mode.
func isTerminal(f *os.File) bool {
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(f.Fd()), &mode) == nil
}

package main

import "os"

// ANSI colours.
const (
	colorReset  = "\x1b[0m"
	colorRed    = "\x1b[31m"
	colorYellow = "\x1b[33m"
	colorGreen  = "\x1b[32m"
	colorDim    = "\x1b[2m"
	colorBold   = "\x1b[1m"
)

// useColor follows --color, NO_COLOR (https://no-color.org) and whether
// the output is a terminal.
func (o *options) useColor() bool {
	switch o.color {
	case "always":
		return true
	case "never":
		return false
	}
	return o.isTerminal && os.Getenv("NO_COLOR") == ""
}

func (o *options) paint(color, s string) string {
	if !o.useColor() || color == "" {
		return s
	}
	return color + s + colorReset
}

// Package cliout is what vigil's commands print: output formats (a table for
// people, JSON lines, YAML documents), tables aligned by visible width, text
// escaped for the terminal (Escape: names come from containers), whether
// output goes to a terminal (IsTerminal), and shell completion candidates.
package cliout

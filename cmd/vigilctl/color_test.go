package main

import "testing"

// TestColourOnlyOnATerminal: auto colour follows the terminal and NO_COLOR
// (cliout.TestIsTerminal tells a terminal).
func TestColourOnlyOnATerminal(t *testing.T) {
	o := &options{color: "auto", isTerminal: true}
	t.Setenv("NO_COLOR", "")
	if o.paint(colorRed, "x") != colorRed+"x"+colorReset {
		t.Fatal("no colour on a terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if o.paint(colorRed, "x") != "x" {
		t.Fatal("colour despite NO_COLOR")
	}
}

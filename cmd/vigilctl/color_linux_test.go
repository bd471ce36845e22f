package main

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestColourOnlyOnATerminal(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	file, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if !isTerminal(pts) || isTerminal(file) {
		t.Fatalf("isTerminal: pty %v, file %v", isTerminal(pts), isTerminal(file))
	}
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

package cliout

import (
	"bytes"
	"regexp"
	"testing"
)

func TestTableColourAfterPadding(t *testing.T) {
	var tab Table
	tab.Row("DIGEST", "MODE", "NODES")
	tab.Cells(Cell{Text: "sha256:aa"}, Cell{Text: "learn", Color: "\x1b[2m"}, Cell{Text: "3"})
	tab.Cells(Cell{Text: "sha256:b"}, Cell{Text: "enforce", Color: "\x1b[32m"}, Cell{Text: "×12", Color: "\x1b[1m"})
	plain, coloured := func(_, s string) string { return s }, func(c, s string) string { return c + s + "\x1b[0m" }
	var p, c bytes.Buffer
	if err := tab.Write(&p, plain); err != nil {
		t.Fatal(err)
	}
	if err := tab.Write(&c, coloured); err != nil {
		t.Fatal(err)
	}
	want := "DIGEST     MODE     NODES\nsha256:aa  learn    3\nsha256:b   enforce  ×12\n"
	if p.String() != want {
		t.Errorf("plain table:\n%q\nwant\n%q", p.String(), want)
	}
	if stripped := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(c.String(), ""); stripped != want {
		t.Errorf("coloured table, escapes removed:\n%q\nwant\n%q", stripped, want)
	}
}

// TestTableEscapesCells puts a container's name in a cell: its control
// characters are escaped, and the column is as wide as the escaped text.
func TestTableEscapesCells(t *testing.T) {
	var tab Table
	tab.Row("IMAGE", "NODES")
	tab.Row("evil\x1b[2K\r", "1")
	var b bytes.Buffer
	if err := tab.Write(&b, nil); err != nil {
		t.Fatal(err)
	}
	if want := "IMAGE          NODES\nevil\\x1b[2K\\r  1\n"; b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
}

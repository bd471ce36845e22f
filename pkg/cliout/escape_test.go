package cliout

import (
	"testing"

	"github.com/vigil-dev/vigil/test/testutil"
)

// hostile holds what a container can put in a file name: an erase-line
// and carriage return, an OSC 52 clipboard write ended by BEL, NUL, DEL, a
// C1 CSI, a bidirectional override, a byte that is not UTF-8, a newline and
// a tab, around printable UTF-8.
const hostile = "/tmp/\x1b[2K\rok\x1b]52;c;Y3VybA==\a\x00\x7f\u009b31m\u202etxt.exe\xff\n\tпривет ×"

func TestEscape(t *testing.T) {
	want := `/tmp/\x1b[2K\rok\x1b]52;c;Y3VybA==\a\x00\x7f\u009b31m\u202etxt.exe\xff\n\tпривет ×`
	if got := Escape(hostile); got != want {
		t.Errorf("Escape:\n%s\nwant\n%s", got, want)
	}
	if got := testutil.TerminalControls(Escape(hostile)); got != nil {
		t.Errorf("Escape left %q", got)
	}
	for _, plain := range []string{"", "/usr/sbin/nginx", "docker.io/library/nginx:1.27", "ünïcödé ✓ 日本", "\ufffd", `C:\path`} {
		if got := Escape(plain); got != plain {
			t.Errorf("Escape(%q) = %q, want it unchanged", plain, got)
		}
	}
	if got, want := EscapeLines("a\x1b\nb\r\n"), "a\\x1b\nb\\r\n"; got != want {
		t.Errorf("EscapeLines = %q, want %q", got, want)
	}
}

package vm

import (
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestSpecShares(t *testing.T) {
	spec := Spec{
		Path: "/tmp/go-build1/b001/x.test",
		Dir:  "/work/repo/pkg/x",
		Shares: []Share{
			{Path: "/work/repo", ReadOnly: true},
			{Path: "/work/repo/pkg", ReadOnly: true},       // inside a read-only share: not again
			{Path: "/work/repo/out"},                       // read-write inside read-only: mounted on top
			{Path: "/tmp/go-build1/b001/", ReadOnly: true}, // the program's dir, read-write wins
			{Path: "/data", ReadOnly: true},
		},
	}
	got, err := spec.shares()
	if err != nil {
		t.Fatal(err)
	}
	want := []Share{
		{Path: "/data", ReadOnly: true},
		{Path: "/tmp/go-build1/b001"},
		{Path: "/work/repo", ReadOnly: true},
		{Path: "/work/repo/out"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("shares %+v\nwant %+v", got, want)
	}

	// A working directory outside every share is shared read-only.
	spec = Spec{Path: "/a/prog", Dir: "/b/c"}
	got, err = spec.shares()
	if err != nil {
		t.Fatal(err)
	}
	want = []Share{{Path: "/a"}, {Path: "/b/c", ReadOnly: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("shares %+v\nwant %+v", got, want)
	}
}

func TestSpecRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"relative program", Spec{Path: "x.test"}, "not absolute"},
		{"program with =", Spec{Path: "/a=b/x"}, "contains '='"},
		{"bad env", Spec{Path: "/a/x", Env: []string{"NOEQUALS"}}, "NAME=value"},
		{"relative dir", Spec{Path: "/a/x", Dir: "rel"}, "not absolute"},
	} {
		if _, err := tc.spec.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, p := range []string{"/", "/proc/1", "/sys", "/dev/shm", "/lib/modules/x", "/bin"} {
		spec := Spec{Path: "/a/x", Shares: []Share{{Path: p}}}
		if _, err := spec.shares(); !errors.Is(err, errGuestOwned) {
			t.Errorf("share %s: got %v, want errGuestOwned", p, err)
		}
	}
}

func TestShellQuote(t *testing.T) {
	args := []string{"plain", "with space", "it's", `"double"`, "$HOME", "`id`", "a\nb", "", `back\slash`, "*"}
	var script strings.Builder
	script.WriteString("for a in")
	for _, a := range args {
		script.WriteString(" " + shellQuote(a))
	}
	script.WriteString(`; do printf '%s\0' "$a"; done`)
	out, err := exec.Command("sh", "-c", script.String()).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !reflect.DeepEqual(got, args) {
		t.Fatalf("sh saw %q\nwant %q", got, args)
	}
}

func TestGuestScript(t *testing.T) {
	spec := Spec{Path: "/t/x.test", Args: []string{"-test.run=A|B"}, Env: []string{"K=it's"}, Dir: "/w"}
	s := guestScript(spec, []Share{{Path: "/t"}, {Path: "/w", ReadOnly: true}})
	for _, want := range []string{
		"mount -t 9p -o " + ninePOpts + " share0 '/t' ||",
		"mount -t 9p -o " + ninePOpts + ",ro share1 '/w' ||",
		"cd '/w' ||",
		"env -i 'PATH=" + guestPath + "' 'HOME=/root' 'TMPDIR=/tmp' '" + GuestEnv + "=1' 'K=it'\\''s' '/t/x.test' '-test.run=A|B' </dev/null >/vm/ctl/stdout 2>/vm/ctl/stderr\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}

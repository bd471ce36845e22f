package alert

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/process"
)

// evil is a file name that is not valid UTF-8, as a workload can choose:
// cp /bin/busybox "/tmp/$(printf '\377\376')evil".
const evil = "/tmp/\xff\xfeevil"

// TestNonUTF8NamesCarriedLosslessly builds the alert of an exec of a file
// whose name is not UTF-8, run with such an argument and comm, under a
// parent with such a name: the alert encodes (binary and JSON), shows each
// name escaped, carries its exact bytes, and is labelled.
func TestNonUTF8NamesCarriedLosslessly(t *testing.T) {
	rec, v := violation(0, evil)
	rec.Event.Comm = "\xff\xfeevil"
	rec.Event.Exec.Argv = []string{evil, "--key=\x80", "plain"}
	rec.Ancestry = append(rec.Ancestry, process.Process{PID: 7, Path: "/opt/\xc3(", Comm: "ok"})
	a := build("node-1", rec, v, vigilv1.Action_ACTION_ALERTED)

	if _, err := proto.Marshal(a); err != nil {
		t.Fatalf("alert does not encode: %v", err)
	}
	if _, err := protojson.Marshal(a); err != nil {
		t.Fatalf("alert does not encode as JSON (--alerts-file): %v", err)
	}
	const shown = `/tmp/\xff\xfeevil`
	for _, c := range []struct {
		field, display, want string
		raw, wantRaw         []byte
	}{
		{"object.path", a.Object.Path, shown, a.Object.RawPath, []byte(evil)},
		{"process.path", a.Process.Path, shown, a.Process.RawPath, []byte(evil)},
		{"process.comm", a.Process.Comm, `\xff\xfeevil`, a.Process.RawComm, []byte("\xff\xfeevil")},
		{"process.argv[0]", a.Process.Argv[0], shown, a.Process.RawArgv[0], []byte(evil)},
		{"process.argv[1]", a.Process.Argv[1], `--key=\x80`, a.Process.RawArgv[1], []byte("--key=\x80")},
		{"process.argv[2]", a.Process.Argv[2], "plain", a.Process.RawArgv[2], []byte("plain")},
		{"ancestry[1].path", a.Ancestry[1].Path, `/opt/\xc3(`, a.Ancestry[1].RawPath, []byte("/opt/\xc3(")},
	} {
		if c.display != c.want || !bytes.Equal(c.raw, c.wantRaw) {
			t.Errorf("%s shown %q with raw bytes %q, want %q and %q", c.field, c.display, c.raw, c.want, c.wantRaw)
		}
	}
	if a.Ancestry[0].RawPath != nil || a.Ancestry[0].Path != "/init" {
		t.Errorf("a valid name got raw bytes: %v", a.Ancestry[0])
	}
	want := "ancestry.path,object.path,process.argv,process.comm,process.path"
	if got := a.Labels[LabelInvalidUTF8]; got != want {
		t.Errorf("label %s = %q, want %q", LabelInvalidUTF8, got, want)
	}

	valid, validV := violation(0, "/usr/bin/curl")
	plain := build("node-1", valid, validV, vigilv1.Action_ACTION_ALERTED)
	if _, ok := plain.Labels[LabelInvalidUTF8]; ok || plain.Object.RawPath != nil || plain.Process.RawArgv != nil {
		t.Errorf("a valid alert carries raw names or the label: %v", plain)
	}
}

// TestLongNamesKeepTheAlertWithinLimits: the longest names the sensor
// reports, twice in the detail, and a summary of their repeats stay within
// the collector's 4 KiB a field, valid or not.
func TestLongNamesKeepTheAlertWithinLimits(t *testing.T) {
	for _, path := range []string{"/" + strings.Repeat("a", 4094), "/" + strings.Repeat("\xff", 4094)} {
		d, sent := newTestDeduper(t)
		for i := range 2 {
			rec, v := violation(time.Duration(i)*time.Second, path)
			rec.Process.Path = path
			d.Report(rec, v, vigilv1.Action_ACTION_ALERTED)
		}
		d.Flush(t0.Add(time.Hour))
		if len(*sent) != 2 {
			t.Fatalf("%d alerts sent, want the first and a summary", len(*sent))
		}
		for _, a := range *sent {
			if len(a.Detail) > MaxDisplayBytes || len(a.Object.Path) > MaxDisplayBytes || len(a.Process.Path) > MaxDisplayBytes {
				t.Errorf("%d-byte name: detail %d bytes, path %d bytes, over %d", len(path), len(a.Detail), len(a.Object.Path), MaxDisplayBytes)
			}
			if !utf8.ValidString(a.Detail) || !strings.HasSuffix(strings.TrimSuffix(a.Detail, " (2 times in 1m0s)"), "…") {
				t.Errorf("detail not cut at a character with …: %q", a.Detail[len(a.Detail)-40:])
			}
		}
	}
}

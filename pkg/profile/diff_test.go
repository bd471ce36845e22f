package profile

import (
	"reflect"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	a, err := Decode("a.yaml", []byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	b := a.Clone()
	b.Metadata.Mode, b.Metadata.Version = ModeMonitor, 2
	b.Spec.Executables = append(b.Spec.Executables, ExecEntry{Path: "/bin/sh"})
	b.Spec.Files[0].Access = AccessReadWrite
	b.Spec.Capabilities = nil
	d, err := Compare("a.yaml", a, "b.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	want := []ListDiff{
		{List: ListExecutables, Added: []string{"/bin/sh"}},
		{List: ListFiles, Added: []string{"/etc/hosts (readwrite)"}, Removed: []string{"/etc/hosts (read)"}},
		{List: ListCapabilities, Removed: []string{"CAP_NET_RAW"}},
	}
	if !reflect.DeepEqual(d.Lists, want) {
		t.Errorf("lists %+v, want %+v", d.Lists, want)
	}
	if d.FromMode != ModeEnforce || d.ToMode != ModeMonitor || d.FromVersion != 0 || d.ToVersion != 2 || d.Empty() {
		t.Errorf("mode/version %s→%s v%d→v%d", d.FromMode, d.ToMode, d.FromVersion, d.ToVersion)
	}
	for _, line := range []string{"--- a.yaml\n+++ b.yaml\n", "-  mode: enforce\n", "+  mode: monitor\n", "+    - path: /bin/sh\n", "-    - name: CAP_NET_RAW\n"} {
		if !strings.Contains(d.Text, line) {
			t.Errorf("text diff lacks %q:\n%s", line, d.Text)
		}
	}
	same, err := Compare("a", a, "a", a.Clone())
	if err != nil || !same.Empty() || same.Text != "" {
		t.Errorf("a profile against its clone: %+v %v", same, err)
	}
}

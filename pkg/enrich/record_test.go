package enrich

import (
	"slices"
	"testing"

	"github.com/vigil-dev/vigil/pkg/sensor"
)

// TestRecordReadsTheKernelsFlags checks each typed reading of the event's
// flags against the flag it stands for.
func TestRecordReadsTheKernelsFlags(t *testing.T) {
	for _, tc := range []struct {
		flags       sensor.Flags
		enforcement Enforcement
		truncated   bool
		execFlags   []string
	}{
		{0, NotEnforced, false, []string{}},
		{sensor.FlagKilled, Killed, false, []string{}},
		{sensor.FlagDenied, Denied, false, []string{}},
		{sensor.FlagPathTruncated | sensor.FlagMemfd, NotEnforced, true, []string{"memfd", "path_truncated"}},
		{sensor.FlagDeleted | sensor.FlagUpperLayer | sensor.FlagArgvTruncated | sensor.FlagPathDetached | sensor.FlagWorkload,
			NotEnforced, false, []string{"deleted", "upper_layer", "argv_truncated", "path_detached"}},
	} {
		r := Record{Event: &sensor.Event{Type: sensor.TypeExec, Flags: tc.flags}}
		if got := r.Enforcement(); got != tc.enforcement {
			t.Errorf("flags %#x: enforcement %q, want %q", tc.flags, got, tc.enforcement)
		}
		if got := r.PathTruncated(); got != tc.truncated {
			t.Errorf("flags %#x: path truncated %v, want %v", tc.flags, got, tc.truncated)
		}
		if got := r.ExecFlags(); got == nil || !slices.Equal(got, tc.execFlags) {
			t.Errorf("flags %#x: exec flags %q, want %q", tc.flags, got, tc.execFlags)
		}
	}
	for _, tc := range []struct {
		flag sensor.Flags
		read func(*Record) bool
	}{
		{sensor.FlagPathUnresolved, (*Record).PathUnresolved},
		{sensor.FlagPathDetached, (*Record).PathDetached},
		{sensor.FlagCompatSyscall, (*Record).CompatSyscall},
	} {
		with := Record{Event: &sensor.Event{Type: sensor.TypeOpen, Flags: tc.flag}}
		without := Record{Event: &sensor.Event{Type: sensor.TypeOpen, Flags: ^tc.flag}}
		if !tc.read(&with) || tc.read(&without) {
			t.Errorf("flag %#x: read %v when set, %v when every other flag is", tc.flag, tc.read(&with), tc.read(&without))
		}
	}
}

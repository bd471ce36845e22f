package alert

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// LabelInvalidUTF8 names, comma-separated, the fields of an alert whose
// names are not valid UTF-8 (object.path, process.path, process.argv,
// process.comm, ancestry.*): a name a program chose so that tools expecting
// text misread it, a signal of its own.
const LabelInvalidUTF8 = "invalid_utf8"

// MaxDisplayBytes bounds the display form of a name that is not UTF-8:
// escaping can make it four times as long as the name, and the collector
// refuses a field over 4 KiB. The raw bytes beside it stay whole.
const MaxDisplayBytes = 4096

// truncatedMark ends a display form cut at MaxDisplayBytes.
const truncatedMark = "…"

// DisplayName writes s with each byte that is not part of valid UTF-8 as
// \xNN, cut at MaxDisplayBytes (ending with …); valid text is unchanged.
func DisplayName(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		next := s[i : i+size]
		if r == utf8.RuneError && size == 1 {
			next = fmt.Sprintf(`\x%02x`, s[i])
		}
		if b.Len()+len(next) > MaxDisplayBytes-len(truncatedMark) {
			b.WriteString(truncatedMark)
			break
		}
		b.WriteString(next)
		i += size
	}
	return b.String()
}

// maxDetailBytes bounds an alert's detail, which repeats the names: two
// long ones would make the collector refuse the alert (4 KiB a field). It
// leaves room for the count a summary appends.
const maxDetailBytes = MaxDisplayBytes - 64

// clip cuts valid text s at maxDetailBytes, on a character boundary,
// ending it with ….
func clip(s string) string {
	if len(s) <= maxDetailBytes {
		return s
	}
	cut := maxDetailBytes - len(truncatedMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}

// carryNames makes every name of a, which the kernel reported as bytes,
// fit a protobuf string: a name that is not valid UTF-8 keeps its exact
// bytes in the raw field beside it and is shown escaped (DisplayName), and
// the alert is labelled with the fields concerned.
func carryNames(a *vigilv1.Alert) {
	var fields []string
	if o := a.Object; o != nil && !utf8.ValidString(o.Path) {
		o.RawPath, o.Path = []byte(o.Path), DisplayName(o.Path)
		fields = append(fields, "object.path")
	}
	fields = append(fields, carryProcess("process", a.Process)...)
	for _, p := range a.Ancestry {
		fields = append(fields, carryProcess("ancestry", p)...)
	}
	if len(fields) > 0 {
		slices.Sort(fields)
		a.Labels[LabelInvalidUTF8] = strings.Join(slices.Compact(fields), ",")
	}
}

// carryProcess does carryNames for one process and returns the fields
// concerned, prefixed.
func carryProcess(prefix string, p *vigilv1.Process) []string {
	if p == nil {
		return nil
	}
	var fields []string
	if !utf8.ValidString(p.Path) {
		p.RawPath, p.Path = []byte(p.Path), DisplayName(p.Path)
		fields = append(fields, prefix+".path")
	}
	if !utf8.ValidString(p.Comm) {
		p.RawComm, p.Comm = []byte(p.Comm), DisplayName(p.Comm)
		fields = append(fields, prefix+".comm")
	}
	if slices.ContainsFunc(p.Argv, func(arg string) bool { return !utf8.ValidString(arg) }) {
		// A new slice: p.Argv is shared with the process table.
		argv := make([]string, len(p.Argv))
		p.RawArgv = make([][]byte, len(p.Argv))
		for i, arg := range p.Argv {
			argv[i], p.RawArgv[i] = DisplayName(arg), []byte(arg)
		}
		p.Argv = argv
		fields = append(fields, prefix+".argv")
	}
	return fields
}

package profile

import (
	"errors"
	"path"
	"strings"
)

// MaxAppletLen is the longest applet name a profile can allow; the kernel
// (bpf/lib/applet.h) reads no more.
const MaxAppletLen = 64

// multiCallPrefix is how busybox recognises its own name: an argv[0] whose
// base name starts with it makes busybox take the applet from argv[1].
const multiCallPrefix = "busybox"

// Applet is the applet a multi-call binary run with argv selects, as busybox
// selects it: the base name of argv[0] (a leading '-', a login shell's,
// dropped first) and, while that name starts with "busybox", the base name
// of the next argument. truncated says the kernel cut argv short: its last
// argument may be incomplete and does not count. "" when no argument
// selects one, or the name is longer than MaxAppletLen, "." or "..". The
// kernel computes the same from the same bytes.
func Applet(argv []string, truncated bool) string {
	if truncated && len(argv) > 0 {
		argv = argv[:len(argv)-1]
	}
	for i, arg := range argv {
		if i == 0 {
			arg = strings.TrimPrefix(arg, "-")
		}
		name := arg[strings.LastIndexByte(arg, '/')+1:]
		if strings.HasPrefix(name, multiCallPrefix) {
			continue
		}
		if len(name) > MaxAppletLen || name == "." || name == ".." {
			return ""
		}
		return name
	}
	return ""
}

// MultiCall reports whether the executable at p is a multi-call binary: one
// file that behaves as the applet its argv names (busybox, the base of
// Alpine and busybox images). Learning records the applet of such execs.
func MultiCall(p string) bool { return strings.HasPrefix(path.Base(p), multiCallPrefix) }

var errApplet = errors.New(`an applet name must be 1 to 64 bytes, without "/", NUL or "*", and not "." or ".."`)

// validateApplet checks an executables entry's "as": an applet name, for a
// path without wildcards.
func validateApplet(pattern, as string) error {
	if as == "" || len(as) > MaxAppletLen || strings.ContainsAny(as, "/\x00*") || as == "." || as == ".." {
		return errApplet
	}
	if strings.Contains(pattern, wildOne) {
		return errors.New("an entry with an applet (as) takes a path without wildcards")
	}
	return nil
}

// appletPath is where an applet entry lives in the applets' index: its
// path with the applet as one more component.
func appletPath(p, as string) string { return p + "/" + as }

// splitAppletPath is the inverse of appletPath.
func splitAppletPath(v string) (p, as string) {
	i := strings.LastIndexByte(v, '/')
	return v[:i], v[i+1:]
}

package apps

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// Cause is why a legitimate behaviour fell outside the learned profile.
type Cause string

// The causes, in report order.
const (
	// CauseImage: a file the image ships, never opened while learning.
	CauseImage Cause = "image file never read during learning"
	// CauseVolatile: a file made at run time whose name has a random,
	// timestamp or PID part.
	CauseVolatile Cause = "volatile name part"
	// CauseChosen: a file made at run time under a name the request chose.
	CauseChosen Cause = "name chosen by the request"
	// CauseCapability: a capability check.
	CauseCapability Cause = "capability"
	// CauseOther: anything else.
	CauseOther Cause = "other"
)

var causeOrder = []Cause{CauseImage, CauseVolatile, CauseChosen, CauseCapability, CauseOther}

// Finding is one distinct object the agent alerted on, with every alert
// about it folded in.
type Finding struct {
	Kind   string // exec, open, connect, capability
	Object string // path, address:port/protocol, capability name
	// Access, Actions and Processes are the distinct accesses asked for,
	// actions taken and executables that acted.
	Access, Actions, Processes []string
	Cause                      Cause
}

func (f Finding) String() string {
	return fmt.Sprintf("%s %s [%s] by %s (%s)", f.Kind, f.Object, strings.Join(f.Access, ","),
		strings.Join(f.Processes, ","), strings.Join(f.Actions, ","))
}

// readAlerts reads an alerts file the agent writes (JSON lines); a file
// not yet made holds none.
func readAlerts(file string) ([]*vigilv1.Alert, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	defer f.Close()
	var out []*vigilv1.Alert
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		a := &vigilv1.Alert{}
		if err := protojson.Unmarshal(sc.Bytes(), a); err != nil {
			return nil, fmt.Errorf("alerts line %d: %w", len(out)+1, err)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return out, nil
}

// findings folds alerts into one finding per distinct object, each with
// its cause, in cause then object order.
func findings(alerts []*vigilv1.Alert, image map[string]bool, chosen []string) []Finding {
	byKey := map[string]*Finding{}
	for _, a := range alerts {
		kind, object := describe(a)
		k := kind + " " + object
		f := byKey[k]
		if f == nil {
			f = &Finding{Kind: kind, Object: object}
			byKey[k] = f
		}
		f.Access = addOnce(f.Access, a.Access)
		f.Actions = addOnce(f.Actions, strings.ToLower(strings.TrimPrefix(a.Action.String(), "ACTION_")))
		f.Processes = addOnce(f.Processes, a.Process.GetPath())
	}
	out := make([]Finding, 0, len(byKey))
	for _, f := range byKey {
		f.Cause = classify(*f, image, chosen)
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(slices.Index(causeOrder, a.Cause), slices.Index(causeOrder, b.Cause)),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Object, b.Object))
	})
	return out
}

func describe(a *vigilv1.Alert) (kind, object string) {
	o := a.Object
	kind = strings.ToLower(strings.TrimPrefix(a.Kind.String(), "KIND_"))
	switch a.Kind {
	case vigilv1.Kind_KIND_CONNECT:
		return kind, fmt.Sprintf("%s:%d/%s", o.GetAddress(), o.GetPort(), o.GetProtocol())
	case vigilv1.Kind_KIND_CAPABILITY:
		return kind, o.GetCapability()
	case vigilv1.Kind_KIND_IO_URING:
		return kind, o.GetIoUringOp()
	}
	return kind, o.GetPath()
}

func addOnce(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	list = append(list, s)
	slices.Sort(list)
	return list
}

// volatilePart finds a name part a run makes up: a run of three or more
// digits (times, PIDs, counters, random numbers) or a mkstemp-style suffix
// of eight name characters.
var volatilePart = regexp.MustCompile(`[0-9]{3,}|[-.][a-z0-9_]{8}$`)

// classify says why f's object was not in the profile. It is a reading
// for the report, not a verdict: a file the image ships was never learned;
// a file made at run time has a volatile part in its own name (a mkstemp
// suffix in a user's directory is volatile first), else a component one of
// the names the mix chose, else a volatile directory.
func classify(f Finding, image map[string]bool, chosen []string) Cause {
	switch f.Kind {
	case "capability":
		return CauseCapability
	case "open", "exec":
	default:
		return CauseOther
	}
	if image[f.Object] {
		return CauseImage
	}
	comps := strings.Split(f.Object, "/")
	switch {
	case volatilePart.MatchString(comps[len(comps)-1]):
		return CauseVolatile
	case slices.ContainsFunc(comps, func(c string) bool { return slices.Contains(chosen, c) }):
		return CauseChosen
	case slices.ContainsFunc(comps, volatilePart.MatchString):
		return CauseVolatile
	}
	return CauseOther
}

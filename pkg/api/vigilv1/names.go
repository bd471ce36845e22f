package vigilv1

import "strings"

// ShortName is the kind's name without its prefix: exec, open, connect, capability.
func (k Kind) ShortName() string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_"))
}

// ShortName is the action's name without its prefix: alerted, blocked, killed.
func (a Action) ShortName() string {
	return strings.ToLower(strings.TrimPrefix(a.String(), "ACTION_"))
}

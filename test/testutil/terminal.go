package testutil

// TerminalControls lists the control characters in s that a terminal acts
// on (C0 but the newline, DEL, C1): what text output must not hold raw.
func TerminalControls(s string) []rune {
	var out []rune
	for _, r := range s {
		if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 {
			out = append(out, r)
		}
	}
	return out
}

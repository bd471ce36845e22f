package profile

// Verdict is the decision on one observation of a container: the mode of
// its image, the profile in force, and whether that profile allows it.
type Verdict struct {
	Mode Mode
	// ModeReason says where the mode came from, or why it differs from the
	// one asked for (enforce without a profile).
	ModeReason  string
	Observation Observation
	// Allowed: the profile allows the behaviour (always true while learning).
	Allowed bool
	// Rule is the profile entry that allowed it, or why nothing did.
	Rule string
	// Profile is the profile in force; nil while learning or without one.
	Profile *Profile
	// NewEntry: while learning, the draft grew.
	NewEntry bool
}

// Violation reports whether the verdict is behaviour outside the profile.
func (v Verdict) Violation() bool { return !v.Allowed }

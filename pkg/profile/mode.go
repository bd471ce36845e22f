package profile

import "fmt"

// Mode is what the agent does with an image's behaviour.
type Mode string

// The three modes.
const (
	// ModeLearn folds every exec, open, connect and capability into the
	// image's draft profile.
	ModeLearn Mode = "learn"
	// ModeMonitor alerts on behaviour outside the profile.
	ModeMonitor Mode = "monitor"
	// ModeEnforce denies behaviour outside the profile (and alerts).
	ModeEnforce Mode = "enforce"
)

// ParseMode reads a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeLearn, ModeMonitor, ModeEnforce:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want learn, monitor or enforce)", s)
}

// ModePolicy says which mode applies to a container's image. Precedence,
// most specific first:
//
//  1. Images[digest]      an explicit setting for the image digest
//  2. Images[image name]  an explicit setting for the image name (e.g. nginx:1.27)
//  3. the profile's own metadata.mode, when the image has a profile
//  4. Namespaces[namespace]
//  5. Default (learn when empty)
//
// Explicit policy settings for an image win over the profile document so an
// operator can switch one image back to monitor without editing its profile.
type ModePolicy struct {
	Default    Mode
	Namespaces map[string]Mode
	Images     map[string]Mode
}

// ModeQuery describes the container whose mode is asked for. Profile is the
// image's profile in force, or nil when it has none.
type ModeQuery struct {
	Namespace string
	Image     string
	Digest    string
	Profile   *Profile
}

// ModeSource names the setting a mode came from.
type ModeSource string

// Where a mode can come from, in precedence order.
const (
	SourceImageDigest ModeSource = "image digest"
	SourceImageName   ModeSource = "image name"
	SourceProfile     ModeSource = "profile"
	SourceNamespace   ModeSource = "namespace"
	SourceDefault     ModeSource = "default"
)

// ModeDecision is the effective mode for a container and why.
type ModeDecision struct {
	// Mode is the mode in effect.
	Mode Mode
	// Requested is the mode the settings asked for; it differs from Mode
	// when the request could not be honoured.
	Requested Mode
	// Source is the setting Requested came from.
	Source ModeSource
	// Reason explains the decision in one sentence, for logs and status.
	Reason string
}

// Resolve returns the effective mode for q. Enforce and monitor need a
// profile: an image asked to enforce without one is monitored instead (there
// is nothing to enforce; every action is reported), and Reason says so.
func (p ModePolicy) Resolve(q ModeQuery) ModeDecision {
	req, src, key := p.requested(q)
	d := ModeDecision{Mode: req, Requested: req, Source: src}
	where := string(src)
	if key != "" {
		where = fmt.Sprintf("%s %q", src, key)
	}
	d.Reason = fmt.Sprintf("%s set by %s", req, where)
	if req == ModeEnforce && q.Profile == nil {
		d.Mode = ModeMonitor
		d.Reason = fmt.Sprintf("enforce set by %s, but image %s has no profile: monitoring instead", where, q.Digest)
	}
	return d
}

func (p ModePolicy) requested(q ModeQuery) (Mode, ModeSource, string) {
	if m, ok := p.Images[q.Digest]; ok && q.Digest != "" {
		return m, SourceImageDigest, q.Digest
	}
	if m, ok := p.Images[q.Image]; ok && q.Image != "" {
		return m, SourceImageName, q.Image
	}
	if q.Profile != nil && q.Profile.Metadata.Mode != "" {
		return q.Profile.Metadata.Mode, SourceProfile, q.Profile.Metadata.Digest
	}
	if m, ok := p.Namespaces[q.Namespace]; ok {
		return m, SourceNamespace, q.Namespace
	}
	if p.Default != "" {
		return p.Default, SourceDefault, ""
	}
	return ModeLearn, SourceDefault, ""
}

// Validate checks every mode in the policy.
func (p ModePolicy) Validate() error {
	if p.Default != "" {
		if _, err := ParseMode(string(p.Default)); err != nil {
			return fmt.Errorf("mode policy default: %w", err)
		}
	}
	for k, m := range p.Namespaces {
		if _, err := ParseMode(string(m)); err != nil {
			return fmt.Errorf("mode policy namespace %q: %w", k, err)
		}
	}
	for k, m := range p.Images {
		if _, err := ParseMode(string(m)); err != nil {
			return fmt.Errorf("mode policy image %q: %w", k, err)
		}
	}
	return nil
}

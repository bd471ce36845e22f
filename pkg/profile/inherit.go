package profile

import (
	"fmt"
	"strconv"
	"strings"
)

// Inheritance. Every rollout of an image is a new digest; without a profile
// of its own a new digest would run unprotected. A new digest of a
// repository inherits the newest promoted profile of that repository: it
// allows what the parent allows, is labelled with the parent it came from,
// and what the new digest does beyond it is learned as its delta for review.

// InheritPolicy says whether, and in which mode, a new digest inherits.
type InheritPolicy string

const (
	// InheritOff: a new digest has no profile until one is learned.
	InheritOff InheritPolicy = "off"
	// InheritMonitor: the inherited profile is monitored, whatever the
	// parent's mode.
	InheritMonitor InheritPolicy = "monitor"
	// InheritEnforce: the inherited profile keeps the parent's mode.
	InheritEnforce InheritPolicy = "enforce"
)

// ParseInheritPolicy reads a policy's name.
func ParseInheritPolicy(s string) (InheritPolicy, error) {
	switch p := InheritPolicy(s); p {
	case InheritOff, InheritMonitor, InheritEnforce:
		return p, nil
	}
	return "", fmt.Errorf("unknown inheritance policy %q (want off, monitor or enforce)", s)
}

// Mode is the mode an inherited profile gets from a parent in mode parent;
// "" when the policy inherits nothing or the parent is not promoted.
func (p InheritPolicy) Mode(parent Mode) Mode {
	if parent != ModeMonitor && parent != ModeEnforce {
		return ""
	}
	switch p {
	case InheritMonitor:
		return ModeMonitor
	case InheritEnforce:
		return parent
	}
	return ""
}

// Repository is an image name without its tag and digest
// (registry.example/team/app:1.2@sha256:… → registry.example/team/app): the
// images whose versions inherit each other's profiles. A port in the
// registry's name is not a tag.
func Repository(image string) string {
	name, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	return name
}

// Ref names one version of one digest's profile: "sha256:…@3".
func Ref(digest string, version int64) string {
	return digest + "@" + strconv.FormatInt(version, 10)
}

// ParseRef reads a Ref.
func ParseRef(s string) (digest string, version int64, err error) {
	digest, v, ok := strings.Cut(s, "@")
	if !ok {
		return "", 0, fmt.Errorf("profile reference %q: want digest@version", s)
	}
	if err := ValidateDigest(digest); err != nil {
		return "", 0, fmt.Errorf("profile reference %q: %w", s, err)
	}
	version, err = strconv.ParseInt(v, 10, 64)
	if err != nil || version < 1 {
		return "", 0, fmt.Errorf("profile reference %q: the version must be a number from 1", s)
	}
	return digest, version, nil
}

// Inherit returns a profile of digest (named image) that allows exactly what
// parent allows, in mode, labelled as inherited from parent. It shares
// nothing with parent.
func Inherit(parent *Profile, image, digest string, mode Mode) (*Profile, error) {
	doc, err := Encode(parent)
	if err != nil {
		return nil, fmt.Errorf("inherit %s: %w", parent.Metadata.Digest, err)
	}
	child, err := Decode("inherited from "+parent.Metadata.Digest, doc)
	if err != nil {
		return nil, fmt.Errorf("inherit %s: %w", parent.Metadata.Digest, err)
	}
	if err := ValidateDigest(digest); err != nil {
		return nil, fmt.Errorf("inherit %s: %w", parent.Metadata.Digest, err)
	}
	child.Metadata = Metadata{
		Image: image, Digest: digest, Version: 0, Mode: mode,
		InheritedFrom: Ref(parent.Metadata.Digest, parent.Metadata.Version),
	}
	return child, nil
}

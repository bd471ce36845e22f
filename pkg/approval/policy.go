package approval

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// Action is what the agent does about a container whose image is not
// approved.
type Action string

// The actions. Off checks nothing.
const (
	ActionOff     Action = "off"
	ActionAlert   Action = "alert"
	ActionEnforce Action = "enforce"
)

// ParseAction reads an action by name.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case ActionOff, ActionAlert, ActionEnforce:
		return a, nil
	}
	return "", fmt.Errorf("approval action %q: want off, alert or enforce", s)
}

// Policy is which images may run. Its fields are those of a future cluster
// resource's spec (an ImageApprovalPolicy), hence the tags.
type Policy struct {
	// Images are the approved repositories, normalized
	// (docker.io/library/nginx), or prefixes of them ending in /*
	// (myacr.azurecr.io/team/*: any repository under team/, at any depth;
	// myacr.azurecr.io/*: the whole registry). Empty approves every
	// repository.
	Images []string `json:"images,omitempty"`
	// RequireKnownDigest approves only digests with a profile: no image
	// runs that was not learned.
	RequireKnownDigest bool `json:"requireKnownDigest,omitempty"`
	// Action is what an unapproved image meets.
	Action Action `json:"action"`
}

// Validate names every pattern that could never match what it says.
func (p Policy) Validate() error {
	if _, err := ParseAction(string(p.Action)); err != nil {
		return err
	}
	var errs []error
	if p.Action != ActionOff && len(p.Images) == 0 && !p.RequireKnownDigest {
		errs = append(errs, errors.New("approved images: an action but no image approved and no known digest required: every image would be approved"))
	}
	for _, pat := range p.Images {
		if err := validatePattern(pat); err != nil {
			errs = append(errs, fmt.Errorf("approved image %q: %w", pat, err))
		}
	}
	return errors.Join(errs...)
}

// validatePattern accepts a normalized repository name, or one's prefix
// ending in /*.
func validatePattern(pat string) error {
	name, prefix := strings.CutSuffix(pat, "/*")
	if strings.Contains(name, "*") {
		return errors.New("a * is allowed only as the last path component, after a /")
	}
	probe := name
	if prefix {
		probe = name + "/x" // a registry alone (myacr.azurecr.io) is no repository
	}
	n, err := reference.ParseNormalizedNamed(probe)
	if err != nil {
		return fmt.Errorf("not a repository name: %w", err)
	}
	if !reference.IsNameOnly(n) {
		return errors.New("a tag or digest does not belong in it: the policy approves repositories")
	}
	if n.Name() != probe {
		want := n.Name()
		if prefix {
			want = strings.TrimSuffix(want, "/x") + "/*"
		}
		return fmt.Errorf("write it normalized, as %q", want)
	}
	return nil
}

// Normalize is an image reference's repository, as containerd and the
// admission policy name it: nginx:1.27 is docker.io/library/nginx.
func Normalize(ref string) (string, error) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	return n.Name(), nil
}

// RepositoryApproved reports whether the image reference ref is from an
// approved repository; a reference that does not parse is not.
func (p Policy) RepositoryApproved(ref string) bool {
	if len(p.Images) == 0 {
		return true
	}
	name, err := Normalize(ref)
	if err != nil {
		return false
	}
	for _, pat := range p.Images {
		if prefix, ok := strings.CutSuffix(pat, "*"); ok && strings.HasSuffix(prefix, "/") {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if name == pat {
			return true
		}
	}
	return false
}

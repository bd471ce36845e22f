package profilecr

import (
	"errors"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// State is the latest version of one image's profile as the collector
// judges it now.
type State struct {
	// Latest is the latest version, its YAML included and NotReady filled.
	Latest *vigilv1.Profile
	// Learning is its evidence: of the drafts as they are now while it
	// learns, else the version's own.
	Learning profile.Learning
}

// Change is a change to one image's profile asked of the collector.
type Change struct {
	// Actor is who asked, for the version's author and the audit trail;
	// Detail says more in the audit record.
	Actor, Detail string
	Digest        string
	Mode          profile.Mode
	// Document, when set, is a profile document of Digest stored as the
	// next version (as vigilctl profiles import stores it); nil keeps the
	// latest version's allowlists and changes its mode (profiles mode).
	Document []byte
	// ExpectVersion, when not 0, refuses the change unless it is the
	// latest version (the one reviewed).
	ExpectVersion int64
	// Force makes a mode change to enforce of a profile whose evidence
	// does not make it ready; without it that is refused, as vigilctl
	// refuses it without --force.
	Force bool
}

// ErrNoProfile is a mode change asked of an image that has no profile yet.
var ErrNoProfile = errors.New("no profile yet")

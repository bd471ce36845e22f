package approval

import "fmt"

// Reason says why an image is not approved (the alert's reason label).
type Reason string

// The reasons.
const (
	ReasonRepository    Reason = "repository"
	ReasonUnknownDigest Reason = "unknown_digest"
)

// Verdict is the policy's answer about one image.
type Verdict struct {
	Approved bool
	Reason   Reason
	// Detail says why, for a human reader.
	Detail string
}

// Check judges an image, by its reference and the digest it resolved to
// ("" or not a digest when unknown); known tells whether a digest has a
// profile.
func (p Policy) Check(ref, digest string, known func(digest string) bool) Verdict {
	if p.Action == ActionOff {
		return Verdict{Approved: true}
	}
	if !p.RepositoryApproved(ref) {
		return Verdict{Reason: ReasonRepository, Detail: fmt.Sprintf("repository of %s is not approved", ref)}
	}
	if p.RequireKnownDigest && !known(digest) {
		return Verdict{Reason: ReasonUnknownDigest, Detail: fmt.Sprintf("digest %s of %s has no learned profile", digest, ref)}
	}
	return Verdict{Approved: true}
}

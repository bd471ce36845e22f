package profile

import (
	"fmt"
	"slices"
	"strings"
)

// ImageRef is one profiled image: the name it ran under and its digest.
type ImageRef struct {
	Image  string
	Digest string
}

// MinDigestPrefix is the fewest hex digits a digest prefix must have to
// name a profile: fewer match too much by chance to name one on purpose.
const MinDigestPrefix = 6

// Resolve finds the one digest among known that name stands for, so that a
// person need not type 71 characters. name is:
//   - a digest, or "image@digest" (the digest counts);
//   - an image name as containerd has it ("docker.io/library/nginx:1.27") or
//     as people write it ("nginx:1.27"); without a tag it names every tag of
//     the repository;
//   - a prefix of a digest, with or without "sha256:", of at least
//     MinDigestPrefix hex digits.
//
// No match, more than one, or a name that is an image name and a digest
// prefix of different profiles is an error that lists what name could mean.
func Resolve(name string, known []ImageRef) (string, error) {
	if _, digest, ok := strings.Cut(name, "@"); ok && IsFullDigest(digest) {
		name = digest
	}
	if i := slices.IndexFunc(known, func(r ImageRef) bool { return r.Digest == name }); i >= 0 {
		return name, nil
	}
	byName := matching(known, func(r ImageRef) bool { return r.Image != "" && imageNamed(r.Image, name) })
	byPrefix := matching(known, func(r ImageRef) bool { return digestPrefix(r.Digest, name) })
	all := byName
	for _, r := range byPrefix {
		if !slices.ContainsFunc(all, func(m ImageRef) bool { return m.Digest == r.Digest }) {
			all = append(all, r)
		}
	}
	switch {
	case len(all) == 1:
		return all[0].Digest, nil
	case len(all) == 0 && isHex(prefixHex(name)) && len(prefixHex(name)) < MinDigestPrefix:
		return "", fmt.Errorf("no profile is named %q: a digest prefix needs at least %d hex digits", name, MinDigestPrefix)
	case len(all) == 0:
		return "", fmt.Errorf("no profile is named %q: give a digest, a unique digest prefix or an image name", name)
	}
	var b strings.Builder
	if len(byName) > 0 && len(byPrefix) > 0 {
		fmt.Fprintf(&b, "%q is both an image name and a digest prefix; give the digest:", name)
		for _, m := range byName {
			fmt.Fprintf(&b, "\n  %s  %s (image name)", m.Digest, m.Image)
		}
		for _, m := range byPrefix {
			fmt.Fprintf(&b, "\n  %s  %s (digest prefix)", m.Digest, m.Image)
		}
		return "", fmt.Errorf("%s", b.String())
	}
	fmt.Fprintf(&b, "%q names %d profiles; give a digest or a longer prefix of one:", name, len(all))
	for _, m := range all {
		fmt.Fprintf(&b, "\n  %s  %s", m.Digest, m.Image)
	}
	return "", fmt.Errorf("%s", b.String())
}

// matching is the images of known that match accepts, each digest once.
func matching(known []ImageRef, match func(ImageRef) bool) []ImageRef {
	var out []ImageRef
	for _, r := range known {
		if match(r) && !slices.ContainsFunc(out, func(m ImageRef) bool { return m.Digest == r.Digest }) {
			out = append(out, r)
		}
	}
	return out
}

// IsFullDigest tells whether s is a whole sha256, sha384 or sha512 digest,
// not a prefix of one or an image name that looks like one ("redis:7" is
// a valid digest of a made-up algorithm).
func IsFullDigest(s string) bool {
	alg, enc, _ := strings.Cut(s, ":")
	want := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	return want > 0 && len(enc) == want && ValidateDigest(s) == nil
}

// imageNamed tells whether image (as containerd names it) is name, as a
// person may write it: Docker Hub's registry and library/ left out, and the
// tag left out for any tag.
func imageNamed(image, name string) bool {
	for _, full := range []string{name, "docker.io/" + name, "docker.io/library/" + name} {
		if image == full {
			return true
		}
		if repo, _, tagged := cutTag(image); tagged && !hasTag(name) && repo == full {
			return true
		}
	}
	return false
}

// FamiliarName is image as people write it: Docker Hub's registry and
// library/ left out ("docker.io/library/nginx:1.27" is "nginx:1.27").
func FamiliarName(image string) string {
	for _, prefix := range []string{"docker.io/library/", "docker.io/"} {
		if rest, ok := strings.CutPrefix(image, prefix); ok {
			return rest
		}
	}
	return image
}

// cutTag splits "repo:tag" at the tag's colon, not at a registry port's.
func cutTag(image string) (repo, tag string, ok bool) {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i+1:], "/") {
		return image, "", false
	}
	return image[:i], image[i+1:], true
}

func hasTag(name string) bool {
	_, _, ok := cutTag(name)
	return ok
}

// digestPrefix tells whether prefix, of at least MinDigestPrefix hex
// digits, starts digest (with its algorithm, or its hex alone).
func digestPrefix(digest, prefix string) bool {
	if len(prefixHex(prefix)) < MinDigestPrefix {
		return false
	}
	if !strings.Contains(prefix, ":") {
		_, enc, _ := strings.Cut(digest, ":")
		return strings.HasPrefix(enc, prefix)
	}
	return strings.HasPrefix(digest, prefix)
}

// prefixHex is the digits of a digest prefix: after the algorithm, if any.
func prefixHex(prefix string) string {
	_, hex, ok := strings.Cut(prefix, ":")
	if !ok {
		return prefix
	}
	return hex
}

func isHex(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdef") == ""
}

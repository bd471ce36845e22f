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

// Resolve finds the one digest among known that name stands for, so that a
// person need not type 71 characters. name is, in order of precedence:
//   - a digest, or "image@digest" (the digest counts);
//   - an image name as containerd has it ("docker.io/library/nginx:1.27") or
//     as people write it ("nginx:1.27"); without a tag it names every tag of
//     the repository;
//   - a prefix of a digest, with or without "sha256:".
//
// No match, or more than one, is an error that lists what name could mean.
func Resolve(name string, known []ImageRef) (string, error) {
	if _, digest, ok := strings.Cut(name, "@"); ok && IsFullDigest(digest) {
		name = digest
	}
	var matches []ImageRef
	for _, match := range []func(ImageRef) bool{
		func(r ImageRef) bool { return r.Digest == name },
		func(r ImageRef) bool { return r.Image != "" && imageNamed(r.Image, name) },
		func(r ImageRef) bool { return digestPrefix(r.Digest, name) },
	} {
		for _, r := range known {
			if match(r) && !slices.ContainsFunc(matches, func(m ImageRef) bool { return m.Digest == r.Digest }) {
				matches = append(matches, r)
			}
		}
		if len(matches) > 0 {
			break
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no profile is named %q: give a digest, a unique digest prefix or an image name", name)
	case 1:
		return matches[0].Digest, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q names %d profiles; give a digest or a longer prefix of one:", name, len(matches))
	for _, m := range matches {
		fmt.Fprintf(&b, "\n  %s  %s", m.Digest, m.Image)
	}
	return "", fmt.Errorf("%s", b.String())
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

func digestPrefix(digest, prefix string) bool {
	if prefix == "" {
		return false
	}
	if !strings.Contains(prefix, ":") {
		_, enc, _ := strings.Cut(digest, ":")
		return strings.HasPrefix(enc, prefix)
	}
	return strings.HasPrefix(digest, prefix)
}

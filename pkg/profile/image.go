package profile

import (
	"errors"
	"path"
	"strings"
)

// Image content. An image entry allows reading what the image ships below
// one directory, and nothing else there: the kernel tells each open whether
// its file comes from a lower layer of the container's root filesystem
// (Observation.Image). A file written, copied up or dropped there at run
// time, a volume mounted there, or a write stays news.
//
// The learner turns a read of an image file into an image entry for the
// directory holding it, so that the files the app serves, imports or loads
// from there without having needed them while it was learned — a page no
// test requested, a module imported only on an error — are allowed. It
// does that only for directories at least two levels deep: never for "/"
// or a top-level directory such as /etc, /usr or /app, whose image content
// is the whole system (/etc/shadow) rather than one thing the app reads.

// FromImage is the YAML value of a file entry's "from" field for an image entry.
const FromImage = "image"

// minImageDepth is the depth of the shallowest directory the learner makes
// an image entry for.
const minImageDepth = 2

var (
	errImageShape  = errors.New(`an image entry must be a directory's subtree without wildcards ("/usr/share/nginx/html/**")`)
	errImageAccess = errors.New("an image entry allows reading only")
)

// validateImageEntry checks the shape of an image entry.
func validateImageEntry(e FileEntry) error {
	dir, ok := strings.CutSuffix(e.Path, "/"+wildAny)
	if !ok || dir == "" || strings.Contains(dir, wildOne) {
		return errImageShape
	}
	if e.Access != AccessRead {
		return errImageAccess
	}
	return nil
}

// imageEntryFor is the image entry the learner makes of a read of the image
// file at the clean path p: the subtree of its directory, when that is deep
// enough and names nothing volatile.
func imageEntryFor(p string) (string, bool) {
	dir := path.Dir(p)
	if len(components(dir)) < minImageDepth || generalizePath(dir) != dir {
		return "", false
	}
	return dir + "/" + wildAny, true
}

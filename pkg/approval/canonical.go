package approval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Canonical is the policy as JSON with its image patterns sorted and
// deduplicated, so that two policies that approve the same images read
// the same, and its hex SHA-256: what an agent reports and the collector
// audits.
func (p Policy) Canonical() (doc, sum string) {
	p.Images = slices.Compact(slices.Sorted(slices.Values(p.Images)))
	// Strings and a bool: encoding cannot fail.
	b, _ := json.Marshal(p)
	return string(b), Sum(string(b))
}

// Sum is the hex SHA-256 of a canonical policy document.
func Sum(doc string) string {
	s := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(s[:])
}

// Package audit chains the collector's audit records: each record's hash
// covers the hash of the record before it, so changing, removing or
// reordering any stored record breaks every link after it. It defines the
// canonical encoding the hash is computed over and verifies a chain.
package audit

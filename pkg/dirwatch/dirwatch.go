// Package dirwatch tells when the entries of a directory change, through
// inotify on Linux; elsewhere New fails and callers poll.
package dirwatch

import "os"

// Watch is a watch on one directory.
type Watch struct {
	f      *os.File
	events chan struct{}
}

// Events gets a value per batch of changes (batches coalesce while nobody
// reads) and is closed when the watch ends: the directory was removed or
// moved, or Close was called.
func (w *Watch) Events() <-chan struct{} { return w.events }

// Close ends the watch.
func (w *Watch) Close() { w.f.Close() }

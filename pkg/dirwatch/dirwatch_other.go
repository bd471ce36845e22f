//go:build !linux

package dirwatch

import "errors"

// New has no inotify to use here: callers poll the directory.
func New(string) (*Watch, error) {
	return nil, errors.New("no inotify on this system")
}

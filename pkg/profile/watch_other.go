//go:build !linux

package profile

import "errors"

// newDirWatch has no inotify to use here: the loader polls the directory.
func newDirWatch(string) (*dirWatch, error) {
	return nil, errors.New("no inotify on this system")
}

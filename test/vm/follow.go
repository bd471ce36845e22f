package vm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// followInterval is how often the guest's output files are polled; 9p writes
// through to the host file at once, so this is the output's only delay.
const followInterval = 50 * time.Millisecond

// follower copies what is appended to a file to a writer.
type follower struct {
	path string
	w    io.Writer
	off  int64
}

func newFollower(path string, w io.Writer) *follower { return &follower{path: path, w: w} }

// drain copies what was appended since the last call.
func (f *follower) drain() error {
	file, err := os.Open(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open guest output: %w", err)
	}
	defer file.Close()
	n, err := io.Copy(f.w, io.NewSectionReader(file, f.off, 1<<62))
	f.off += n
	if err != nil {
		return fmt.Errorf("copy guest output: %w", err)
	}
	return nil
}

// follow drains the followers until stop is closed, then once more.
func follow(stop <-chan struct{}, fs ...*follower) error {
	t := time.NewTicker(followInterval)
	defer t.Stop()
	for {
		var done bool
		select {
		case <-stop:
			done = true
		case <-t.C:
		}
		for _, f := range fs {
			if err := f.drain(); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

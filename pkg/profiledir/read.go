package profiledir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// DefaultMaxFileBytes bounds what the loader reads of one profile file.
// The largest profile the default limits allow (2048 entries in each list,
// every entry with full evidence) is about 4 MB of YAML; decoding a file
// costs up to about 90 times its size in transient allocations.
const DefaultMaxFileBytes = 4 << 20

// readChunk is how much is read between two checks for the end of ctx.
const readChunk = 64 << 10

// readFile reads a profile file of at most max bytes and returns the reason
// to reject it with its error. It opens without blocking (opening a FIFO
// would wait for a writer) and refuses anything but a regular file before
// reading a byte, so a FIFO or a symlink to /dev/zero costs one fstat. It
// stops at max bytes whatever fstat said, since a file can grow while it is
// read, and between chunks once ctx ends.
func readFile(ctx context.Context, path string, max int64) ([]byte, string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, rejectRead, fmt.Errorf("read profile %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, rejectRead, fmt.Errorf("read profile %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, rejectNotRegular, fmt.Errorf("profile %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if fi.Size() > max {
		return nil, rejectTooLarge, tooLarge(path, fi.Size(), max)
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()))
	r := io.LimitReader(f, max+1)
	for {
		if err := ctx.Err(); err != nil {
			return nil, rejectRead, fmt.Errorf("read profile %s: %w", path, err)
		}
		if _, err := io.CopyN(&buf, r, readChunk); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, rejectRead, fmt.Errorf("read profile %s: %w", path, err)
		}
	}
	if int64(buf.Len()) > max {
		return nil, rejectTooLarge, tooLarge(path, int64(buf.Len()), max)
	}
	return buf.Bytes(), "", nil
}

func tooLarge(path string, size, max int64) error {
	return fmt.Errorf("profile %s is %d bytes or more, over the limit of %d", path, size, max)
}

// checkEntries refuses a profile with a list longer than max.
func checkEntries(path string, p *profile.Profile, max int) error {
	for _, l := range []struct {
		name string
		n    int
	}{
		{profile.ListExecutables, len(p.Spec.Executables)},
		{profile.ListFiles, len(p.Spec.Files)},
		{profile.ListNetwork, len(p.Spec.Network)},
		{profile.ListCapabilities, len(p.Spec.Capabilities)},
		{profile.ListIoUring, len(p.Spec.IoUring)},
	} {
		if l.n > max {
			return fmt.Errorf("profile %s has %d %s, over the limit of %d", path, l.n, l.name, max)
		}
	}
	return nil
}

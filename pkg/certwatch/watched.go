package certwatch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Watched is a value parsed from files, reloaded when they change.
type Watched[T any] struct {
	files []string
	parse func(contents [][]byte) (T, error)

	mu  sync.Mutex // serialises Reload
	raw [][]byte
	cur atomic.Pointer[T]
}

// New reads files and parses them (their contents in the order given); it
// fails when they cannot be read or parsed.
func New[T any](parse func(contents [][]byte) (T, error), files ...string) (*Watched[T], error) {
	w := &Watched[T]{files: files, parse: parse}
	if _, err := w.Reload(); err != nil {
		return nil, err
	}
	return w, nil
}

// Current is the value of the files as last loaded.
func (w *Watched[T]) Current() T { return *w.cur.Load() }

// Reload reads the files again and, when their content changed, parses them
// into the current value. On an error the previous value stays current.
func (w *Watched[T]) Reload() (changed bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	raw := make([][]byte, len(w.files))
	for i, f := range w.files {
		if raw[i], err = os.ReadFile(f); err != nil {
			return false, fmt.Errorf("read %s: %w", f, err)
		}
	}
	if w.cur.Load() != nil && same(raw, w.raw) {
		return false, nil
	}
	v, err := w.parse(raw)
	if err != nil {
		return false, fmt.Errorf("load %v: %w", w.files, err)
	}
	w.raw = raw
	w.cur.Store(&v)
	return true, nil
}

// Run reloads every interval until ctx ends, telling report the outcome of
// each reload that changed something or failed.
func (w *Watched[T]) Run(ctx context.Context, every time.Duration, report func(err error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if changed, err := w.Reload(); changed || err != nil {
				report(err)
			}
		}
	}
}

func same(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

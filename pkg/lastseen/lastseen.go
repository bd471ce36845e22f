// Package lastseen records in the agent's state directory until when the
// agent was seeing the node's events, so that the next run can tell how
// long nobody was watching (an agent restart, a crash, an upgrade).
package lastseen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/pkg/atomicfile"
)

// fileName is the mark's file in the state directory.
const fileName = "last-seen"

// Mark is the last-seen time of one state directory.
type Mark struct{ path string }

// New is the mark kept in stateDir.
func New(stateDir string) *Mark { return &Mark{path: filepath.Join(stateDir, fileName)} }

// Read returns the time the previous run recorded, and false when no run
// recorded one (a first start).
func (m *Mark) Read() (time.Time, bool, error) {
	data, err := os.ReadFile(m.path)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read last-seen mark: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("parse last-seen mark %s: %w", m.path, err)
	}
	return t, true, nil
}

// Record says that events were seen until t.
func (m *Mark) Record(t time.Time) error {
	if err := atomicfile.Write(m.path, []byte(t.UTC().Format(time.RFC3339Nano)+"\n")); err != nil {
		return fmt.Errorf("record last-seen mark: %w", err)
	}
	return nil
}

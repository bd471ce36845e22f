// Package profiledir keeps the profiles of a directory of YAML files in
// force (a mounted ConfigMap or a GitOps checkout): it hot-reloads on
// change and rejects a bad file while keeping its previous valid profile.
package profiledir

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// Log field keys of the loader.
const (
	logKeyFile   = "file"
	logKeyDigest = "digest"
	logKeyDir    = "dir"
)

// Reasons a profile file is rejected, as the rejected-files metric labels them.
const (
	rejectRead       = "read"
	rejectNotRegular = "not_regular"
	rejectTooLarge   = "too_large"
	rejectInvalid    = "invalid"
	rejectConflict   = "conflict"
)

// Loader keeps the profiles of a directory of YAML files (a mounted
// ConfigMap or a GitOps checkout) in force. Every *.yaml file (symlinks
// followed; names starting with "." skipped, such as a ConfigMap's ..data)
// holds one profile. A file that becomes unreadable or invalid, or claims a
// digest another file already holds, is rejected: the error is logged and
// counted, and the last valid profile of that file stays in force. So is a
// file that is not a regular file (a FIFO, a device), is larger than the
// byte limit, or has a list longer than the entry limit. A file that is
// removed takes its profile with it.
type Loader struct {
	dir        string
	log        *zap.Logger
	resync     time.Duration
	noWatch    bool
	maxBytes   int64
	maxEntries int
	metrics    loaderMetrics

	mu      sync.Mutex
	files   map[string]*fileState
	current atomic.Pointer[Set]
	changes chan struct{}
}

type fileState struct {
	hash     [sha256.Size]byte
	inForce  *profile.Profile // last valid profile of the file
	rejected *profile.Profile // valid but conflicting profile, retried each scan
	err      error
}

type loaderMetrics struct {
	rejected *prometheus.CounterVec
	loaded   prometheus.Gauge
	reloads  prometheus.Counter
}

// Option configures a Loader.
type Option func(*Loader)

// WithResync sets how often Run rescans the directory even without a change
// notification (default 30s); it is the only trigger when inotify is
// unavailable.
func WithResync(d time.Duration) Option { return func(l *Loader) { l.resync = d } }

// WithMaxFileBytes bounds what is read of one profile file (default
// DefaultMaxFileBytes); a larger file is rejected unread.
func WithMaxFileBytes(n int64) Option { return func(l *Loader) { l.maxBytes = n } }

// WithMaxEntries bounds each list of a profile (default the profile
// package's default MaxEntries, the cap of a learned draft).
func WithMaxEntries(n int) Option { return func(l *Loader) { l.maxEntries = n } }

// withoutWatch makes Run poll only, as it does where inotify is unavailable.
func withoutWatch() Option { return func(l *Loader) { l.noWatch = true } }

// New prepares a loader for dir; call Reload to load it and Run to
// follow changes. Metrics are registered with reg.
func New(dir string, log *zap.Logger, reg prometheus.Registerer, opts ...Option) (*Loader, error) {
	l := &Loader{
		dir:        dir,
		log:        log,
		resync:     30 * time.Second,
		maxBytes:   DefaultMaxFileBytes,
		maxEntries: profile.DefaultLimits().MaxEntries,
		files:      make(map[string]*fileState),
		changes:    make(chan struct{}, 1),
		metrics: loaderMetrics{
			rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "vigil_profile_files_rejected_total",
				Help: "Profile files rejected (previous profile kept), by reason: read, not_regular, too_large, invalid, conflict.",
			}, []string{"reason"}),
			loaded: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "vigil_profiles_loaded",
				Help: "Profiles in force from the profile directory.",
			}),
			reloads: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "vigil_profile_reloads_total",
				Help: "Scans of the profile directory that changed the profiles in force.",
			}),
		},
	}
	for _, o := range opts {
		o(l)
	}
	for _, c := range []prometheus.Collector{l.metrics.rejected, l.metrics.loaded, l.metrics.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register profile loader metrics: %w", err)
		}
	}
	l.current.Store(&Set{byDigest: map[string]*profile.Profile{}})
	return l, nil
}

// Profiles returns the profiles in force now.
func (l *Loader) Profiles() *Set { return l.current.Load() }

// Changes delivers a value after each reload that changed the profiles in
// force; notifications coalesce, so read Profiles after each.
func (l *Loader) Changes() <-chan struct{} { return l.changes }

// RejectedFile is a file whose current content is not in force.
type RejectedFile struct {
	File string
	Err  error
}

// Rejected lists the files whose current content is rejected, by name.
func (l *Loader) Rejected() []RejectedFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []RejectedFile
	for _, name := range slices.Sorted(maps.Keys(l.files)) {
		if st := l.files[name]; st.err != nil {
			out = append(out, RejectedFile{File: filepath.Join(l.dir, name), Err: st.err})
		}
	}
	return out
}

// Reload scans the directory once and publishes the result. It returns the
// errors of every file currently rejected (joined), or of the directory
// itself; profiles already in force stay in force in both cases.
func (l *Loader) Reload() error { return l.reload(context.Background()) }

// reload is Reload, abandoned between two reads once ctx ends.
func (l *Loader) reload(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	names, err := l.list()
	if err != nil {
		l.log.Error("profile directory unreadable; profiles in force are kept", zap.String(logKeyDir, l.dir), zap.Error(err))
		return fmt.Errorf("read profile directory: %w", err)
	}
	changed := false
	for name := range l.files {
		if !slices.Contains(names, name) {
			delete(l.files, name)
			changed = true
			l.log.Info("profile file removed", zap.String(logKeyFile, filepath.Join(l.dir, name)))
		}
	}
	for _, name := range names {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if l.scanFile(ctx, name) {
			changed = true
		}
	}
	if changed {
		l.publish()
	}
	var errs []error
	for _, name := range names {
		if st := l.files[name]; st != nil && st.err != nil {
			errs = append(errs, st.err)
		}
	}
	return errors.Join(errs...)
}

// list returns the names of the profile files, sorted.
func (l *Loader) list() ([]string, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".yaml") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(l.dir, n)); err == nil && fi.IsDir() {
			continue
		}
		names = append(names, n)
	}
	return names, nil
}

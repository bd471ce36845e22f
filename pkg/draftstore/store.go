// Package draftstore keeps learned drafts in a node's state directory, so
// that learning survives an agent restart.
package draftstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/pkg/atomicfile"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// draftSuffix ends every draft file; drafts are canonical profile YAML.
const draftSuffix = ".draft.yaml"

// Store keeps the drafts of one node. Each draft is one canonical YAML
// file named after its digest, replaced atomically on save (atomicfile): a
// crash leaves either the old draft or the new one, never a torn file.
type Store struct {
	dir     string
	lim     profile.Limits
	corrupt prometheus.Counter
}

// Open opens (creating it if needed) the draft directory. Drafts loaded
// from it are normalised under lim. Metrics are registered with reg.
func Open(dir string, lim profile.Limits, reg prometheus.Registerer) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open draft store: %w", err)
	}
	s := &Store{dir: dir, lim: lim, corrupt: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_profile_drafts_unloadable_total",
		Help: "Draft files that could not be loaded at start (set aside as *.corrupt, learning restarts for that digest).",
	})}
	if err := reg.Register(s.corrupt); err != nil {
		return nil, fmt.Errorf("register draft store metrics: %w", err)
	}
	return s, nil
}

// fileName maps a digest to its draft file; ':' is kept out of file names.
func (s *Store) fileName(digest string) string { return draftFileName(s.dir, digest) }

// Save writes the draft's current state atomically.
func (s *Store) Save(d *profile.Draft) error {
	data, err := profile.Encode(d.Profile())
	if err != nil {
		return fmt.Errorf("save draft: %w", err)
	}
	if err := atomicfile.Write(s.fileName(d.Digest()), data); err != nil {
		return fmt.Errorf("save draft %s: %w", d.Digest(), err)
	}
	return nil
}

// Delete removes a digest's draft (after it was promoted or abandoned).
func (s *Store) Delete(digest string) error {
	if err := os.Remove(s.fileName(digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete draft %s: %w", digest, err)
	}
	return atomicfile.SyncDir(s.dir)
}

// LoadAll loads every saved draft. A file that cannot be read or decoded,
// or whose name does not match its digest, is renamed to *.corrupt so it is
// kept for inspection but not retried, counted in a metric, and reported in
// the returned error; the other drafts still load. Temporary files left by
// an interrupted save are removed.
func (s *Store) LoadAll() ([]*profile.Draft, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("load drafts: %w", err)
	}
	var drafts []*profile.Draft
	var errs []error
	for _, e := range entries {
		name := filepath.Join(s.dir, e.Name())
		switch {
		case atomicfile.IsTemp(e.Name()):
			if err := os.Remove(name); err != nil {
				errs = append(errs, fmt.Errorf("remove leftover %s: %w", name, err))
			}
		case strings.HasSuffix(e.Name(), draftSuffix):
			d, err := s.load(name)
			if err != nil {
				s.corrupt.Inc()
				if rerr := os.Rename(name, name+".corrupt"); rerr != nil {
					err = errors.Join(err, rerr)
				}
				errs = append(errs, err)
				continue
			}
			drafts = append(drafts, d)
		}
	}
	return drafts, errors.Join(errs...)
}

func (s *Store) load(name string) (*profile.Draft, error) {
	return loadDraftFile(s.dir, name, s.lim)
}

// Read loads the drafts saved in dir without changing anything there:
// for a reader beside the agent that owns the directory. A directory that
// cannot be read is err (wrapping os.ErrNotExist when there is none, and
// os.ErrPermission when the caller may not read it); a file in it that
// cannot be loaded is skipped, and said in skipped.
func Read(dir string, lim profile.Limits) (drafts []*profile.Draft, skipped []error, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read drafts: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), draftSuffix) {
			continue
		}
		d, err := loadDraftFile(dir, filepath.Join(dir, e.Name()), lim)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		drafts = append(drafts, d)
	}
	return drafts, skipped, nil
}

func draftFileName(dir, digest string) string {
	return filepath.Join(dir, strings.ReplaceAll(digest, ":", "_")+draftSuffix)
}

func loadDraftFile(dir, name string, lim profile.Limits) (*profile.Draft, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("load draft: %w", err)
	}
	p, err := profile.Decode(name, data)
	if err != nil {
		return nil, fmt.Errorf("load draft: %w", err)
	}
	if draftFileName(dir, p.Metadata.Digest) != name {
		return nil, fmt.Errorf("load draft %s: holds digest %s", name, p.Metadata.Digest)
	}
	d, err := profile.DraftFromProfile(p, lim)
	if err != nil {
		return nil, fmt.Errorf("load draft %s: %w", name, err)
	}
	return d, nil
}

package profiledir

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// scanFile reads one profile file and brings its state up to date. It
// reports whether the profiles in force changed.
func (l *Loader) scanFile(ctx context.Context, name string) bool {
	path := filepath.Join(l.dir, name)
	st := l.files[name]
	if st == nil {
		st = &fileState{}
		l.files[name] = st
	}
	data, reason, err := readFile(ctx, path, l.maxBytes)
	if err != nil {
		if ctx.Err() != nil {
			return false // shutting down, not a fault of the file
		}
		if st.err == nil || st.err.Error() != err.Error() {
			l.reject(st, path, reason, err)
		}
		st.hash, st.rejected = [sha256.Size]byte{}, nil
		return false
	}
	h := sha256.Sum256(data)
	if h == st.hash {
		if st.rejected != nil {
			return l.place(name, st, st.rejected)
		}
		return false
	}
	st.hash, st.rejected = h, nil
	p, err := profile.Decode(path, data)
	if err != nil {
		l.reject(st, path, rejectInvalid, err)
		return false
	}
	if err := checkEntries(path, p, l.maxEntries); err != nil {
		l.reject(st, path, rejectTooLarge, err)
		return false
	}
	return l.place(name, st, p)
}

// place puts a valid profile in force unless another file holds its digest.
func (l *Loader) place(name string, st *fileState, p *profile.Profile) bool {
	path := filepath.Join(l.dir, name)
	for other, o := range l.files {
		if other != name && o.inForce != nil && o.inForce.Metadata.Digest == p.Metadata.Digest {
			if st.rejected != p {
				st.rejected = p
				l.reject(st, path, rejectConflict, fmt.Errorf("profile %s: digest %s is already defined by %s",
					path, p.Metadata.Digest, filepath.Join(l.dir, other)))
			}
			return false
		}
	}
	st.inForce, st.rejected, st.err = p, nil, nil
	l.log.Info("profile loaded", zap.String(logKeyFile, path), zap.String(logKeyDigest, p.Metadata.Digest),
		zap.Int64("version", p.Metadata.Version), zap.String("mode", string(p.Metadata.Mode)))
	return true
}

func (l *Loader) reject(st *fileState, path, reason string, err error) {
	st.err = err
	l.metrics.rejected.WithLabelValues(reason).Inc()
	kept := "none"
	if st.inForce != nil {
		kept = st.inForce.Metadata.Digest
	}
	l.log.Error("profile file rejected; its previous profile stays in force",
		zap.String(logKeyFile, path), zap.String("kept", kept), zap.Error(err))
}

// publish makes the current valid profiles the Set in force.
func (l *Loader) publish() {
	next := &Set{byDigest: make(map[string]*profile.Profile), generation: l.current.Load().generation + 1}
	for _, st := range l.files {
		if st.inForce != nil {
			next.byDigest[st.inForce.Metadata.Digest] = st.inForce
		}
	}
	l.current.Store(next)
	l.metrics.loaded.Set(float64(len(next.byDigest)))
	l.metrics.reloads.Inc()
	select {
	case l.changes <- struct{}{}:
	default:
	}
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// ErrConflict is returned when a profile version already exists: another
// writer made it first; re-read the latest version and try again.
var ErrConflict = errors.New("profile version already exists")

// ProfileStore keeps profile versions and the drafts they are merged from.
// A version is written once and never changed.
type ProfileStore interface {
	// PutDraft replaces the draft of d.Digest learned on d.Node.
	PutDraft(ctx context.Context, d Draft) error
	// Drafts returns every node's draft of a digest, by node.
	Drafts(ctx context.Context, digest string) ([]Draft, error)
	// PutProfile stores p (with its YAML) as version p.Version of
	// p.ImageDigest; ErrConflict if that version exists.
	PutProfile(ctx context.Context, p *vigilv1.Profile) error
	// GetProfile returns one version (0: the latest) with its YAML, or
	// ErrNotFound.
	GetProfile(ctx context.Context, digest string, version int64) (*vigilv1.Profile, error)
	// ProfileVersions lists a digest's version numbers, oldest first.
	ProfileVersions(ctx context.Context, digest string) ([]int64, error)
	// LatestProfiles returns the latest version of every digest, by digest;
	// YAML only when withYAML.
	LatestProfiles(ctx context.Context, withYAML bool) ([]*vigilv1.Profile, error)
}

// Draft is one node's learned draft of an image digest.
type Draft struct {
	Digest, Node, Image string
	YAML                []byte
	Updated             time.Time
}

// Profile modes as stored (the YAML spelling).
var modeNames = map[vigilv1.ProfileMode]string{
	vigilv1.ProfileMode_PROFILE_MODE_LEARN:   "learn",
	vigilv1.ProfileMode_PROFILE_MODE_MONITOR: "monitor",
	vigilv1.ProfileMode_PROFILE_MODE_ENFORCE: "enforce",
}

func modeFromName(s string) vigilv1.ProfileMode {
	for m, name := range modeNames {
		if name == s {
			return m
		}
	}
	return vigilv1.ProfileMode_PROFILE_MODE_UNSPECIFIED
}

const upsertDraft = `INSERT INTO drafts (digest, node, image, updated_ns, yaml) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (digest, node) DO UPDATE SET image = excluded.image, updated_ns = excluded.updated_ns, yaml = excluded.yaml`

func (s *sqlStore) PutDraft(ctx context.Context, d Draft) error {
	if d.Digest == "" || d.Node == "" {
		return errors.New("put draft: digest and node are required")
	}
	if _, err := s.exec(ctx, s.writes, upsertDraft, d.Digest, d.Node, d.Image, d.Updated.UnixNano(), d.YAML); err != nil {
		return fmt.Errorf("put draft of %s from %s: %w", d.Digest, d.Node, err)
	}
	return nil
}

func (s *sqlStore) Drafts(ctx context.Context, digest string) ([]Draft, error) {
	rows, err := s.reads.QueryContext(ctx, s.d.rebind("SELECT node, image, updated_ns, yaml FROM drafts WHERE digest = ? ORDER BY node"), digest)
	if err != nil {
		return nil, fmt.Errorf("drafts of %s: %w", digest, err)
	}
	defer rows.Close()
	var out []Draft
	for rows.Next() {
		d := Draft{Digest: digest}
		var updated int64
		if err := rows.Scan(&d.Node, &d.Image, &updated, &d.YAML); err != nil {
			return nil, fmt.Errorf("read draft row: %w", err)
		}
		d.Updated = time.Unix(0, updated).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("drafts of %s: %w", digest, err)
	}
	return out, nil
}

const insertProfile = `INSERT INTO profiles (digest, version, mode, image, sha256, author, nodes, created_ns, yaml)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest, version) DO NOTHING`

func (s *sqlStore) PutProfile(ctx context.Context, p *vigilv1.Profile) error {
	mode, ok := modeNames[p.GetMode()]
	if p.GetImageDigest() == "" || p.GetVersion() < 1 || !ok {
		return fmt.Errorf("put profile: need a digest, a version from 1 and a mode, got %q v%d %v", p.GetImageDigest(), p.GetVersion(), p.GetMode())
	}
	for _, n := range p.GetNodes() {
		if strings.Contains(n, ",") {
			return fmt.Errorf("put profile: node name %q has a comma", n)
		}
	}
	res, err := s.exec(ctx, s.writes, insertProfile, p.GetImageDigest(), p.GetVersion(), mode, p.GetImage(), p.GetSha256(),
		p.GetAuthor(), strings.Join(p.GetNodes(), ","), p.GetCreated().AsTime().UnixNano(), p.GetYaml())
	if err != nil {
		return fmt.Errorf("put profile %s v%d: %w", p.GetImageDigest(), p.GetVersion(), err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("put profile %s v%d: %w", p.GetImageDigest(), p.GetVersion(), ErrConflict)
	}
	return nil
}

const profileColumns = "digest, version, mode, image, sha256, author, nodes, created_ns"

func scanProfile(sc interface{ Scan(...any) error }, withYAML bool) (*vigilv1.Profile, error) {
	p := new(vigilv1.Profile)
	var mode, nodes string
	var created int64
	dest := []any{&p.ImageDigest, &p.Version, &mode, &p.Image, &p.Sha256, &p.Author, &nodes, &created}
	if withYAML {
		dest = append(dest, &p.Yaml)
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	p.Mode = modeFromName(mode)
	if nodes != "" {
		p.Nodes = strings.Split(nodes, ",")
	}
	p.Created = timestamppb.New(time.Unix(0, created))
	return p, nil
}

func (s *sqlStore) GetProfile(ctx context.Context, digest string, version int64) (*vigilv1.Profile, error) {
	query := "SELECT " + profileColumns + ", yaml FROM profiles WHERE digest = ? AND version = ?"
	args := []any{digest, version}
	if version == 0 {
		query = "SELECT " + profileColumns + ", yaml FROM profiles WHERE digest = ? ORDER BY version DESC LIMIT 1"
		args = args[:1]
	}
	p, err := scanProfile(s.reads.QueryRowContext(ctx, s.d.rebind(query), args...), true)
	if errors.Is(err, sql.ErrNoRows) {
		if version == 0 {
			return nil, fmt.Errorf("profile %s: %w", digest, ErrNotFound)
		}
		return nil, fmt.Errorf("profile %s version %d: %w", digest, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get profile %s: %w", digest, err)
	}
	return p, nil
}

func (s *sqlStore) ProfileVersions(ctx context.Context, digest string) ([]int64, error) {
	rows, err := s.reads.QueryContext(ctx, s.d.rebind("SELECT version FROM profiles WHERE digest = ? ORDER BY version"), digest)
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", digest, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read version row: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *sqlStore) LatestProfiles(ctx context.Context, withYAML bool) ([]*vigilv1.Profile, error) {
	cols := "p.digest, p.version, p.mode, p.image, p.sha256, p.author, p.nodes, p.created_ns"
	if withYAML {
		cols += ", p.yaml"
	}
	rows, err := s.reads.QueryContext(ctx, "SELECT "+cols+` FROM profiles p
		JOIN (SELECT digest, MAX(version) AS version FROM profiles GROUP BY digest) latest
		ON p.digest = latest.digest AND p.version = latest.version ORDER BY p.digest`)
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	defer rows.Close()
	var out []*vigilv1.Profile
	for rows.Next() {
		p, err := scanProfile(rows, withYAML)
		if err != nil {
			return nil, fmt.Errorf("read profile row: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

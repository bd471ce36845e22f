package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// dialect holds what differs between the SQL backends; the statements are
// written with ? placeholders and rebound for dialects that number them.
type dialect struct {
	name           string
	numberedParams bool
	schema         []string
	// afterPrune runs after alerts were deleted (SQLite returns free pages
	// to the file system).
	afterPrune []string
	// beforeAlerts runs first in every alert insert transaction, and
	// afterNewAlerts last in one that stored an alert (PostgreSQL
	// serialises the inserts of every collector and tells them all).
	beforeAlerts, afterNewAlerts string
}

func (d dialect) rebind(query string) string {
	if !d.numberedParams {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sqlStore implements Store over database/sql. SQLite needs a single
// writer connection and may read through others, so reads and writes have
// their own pools; for PostgreSQL both are the same pool.
type sqlStore struct {
	d      dialect
	writes *sql.DB
	reads  *sql.DB
}

var marshal = proto.MarshalOptions{Deterministic: true}

func newSQLStore(ctx context.Context, d dialect, writes, reads *sql.DB) (*sqlStore, error) {
	s := &sqlStore{d: d, writes: writes, reads: reads}
	for _, stmt := range d.schema {
		if _, err := writes.ExecContext(ctx, stmt); err != nil {
			s.Close()
			return nil, fmt.Errorf("create %s schema: %w", d.name, err)
		}
	}
	return s, nil
}

func (s *sqlStore) exec(ctx context.Context, db *sql.DB, query string, args ...any) (sql.Result, error) {
	return db.ExecContext(ctx, s.d.rebind(query), args...)
}

const insertAlert = `INSERT INTO alerts
	(node, id, time_ns, received_ns, namespace, image, image_digest, kind, size, payload)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (node, id) DO NOTHING`

func (s *sqlStore) PutAlerts(ctx context.Context, alerts []*vigilv1.Alert) ([]bool, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	received := time.Now().UnixNano()
	tx, err := s.writes.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin alert insert: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.d.beforeAlerts != "" {
		if _, err := tx.ExecContext(ctx, s.d.beforeAlerts); err != nil {
			return nil, fmt.Errorf("serialise alert insert: %w", err)
		}
	}
	stmt, err := tx.PrepareContext(ctx, s.d.rebind(insertAlert))
	if err != nil {
		return nil, fmt.Errorf("prepare alert insert: %w", err)
	}
	defer stmt.Close()
	isNew, anyNew := make([]bool, len(alerts)), false
	for i, a := range alerts {
		payload, err := marshal.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("encode alert %q: %w", a.GetId(), err)
		}
		c := a.GetContainer()
		res, err := stmt.ExecContext(ctx, a.GetNode(), a.GetId(), a.GetTime().AsTime().UnixNano(), received,
			c.GetNamespace(), c.GetImage(), c.GetImageDigest(), int32(a.GetKind()), len(payload), payload)
		if err != nil {
			return nil, fmt.Errorf("insert alert %q: %w", a.GetId(), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("insert alert %q: %w", a.GetId(), err)
		}
		isNew[i] = n == 1
		anyNew = anyNew || isNew[i]
	}
	if anyNew && s.d.afterNewAlerts != "" {
		if _, err := tx.ExecContext(ctx, s.d.afterNewAlerts); err != nil {
			return nil, fmt.Errorf("announce alerts: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit alerts: %w", err)
	}
	return isNew, nil
}

func (s *sqlStore) QueryAlerts(ctx context.Context, q Query) ([]*vigilv1.Alert, bool, error) {
	var w whereClause
	f := q.Filter
	w.in("node", f.Nodes)
	w.in("namespace", f.Namespaces)
	if len(f.Images) > 0 {
		marks := placeholders(len(f.Images))
		w.add("(image IN ("+marks+") OR image_digest IN ("+marks+"))", append(strArgs(f.Images), strArgs(f.Images)...)...)
	}
	if len(f.Kinds) > 0 {
		kinds := make([]any, len(f.Kinds))
		for i, k := range f.Kinds {
			kinds[i] = int32(k)
		}
		w.add("kind IN ("+placeholders(len(kinds))+")", kinds...)
	}
	if !f.Since.IsZero() {
		w.add("time_ns >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		w.add("time_ns < ?", f.Until.UnixNano())
	}
	limit := q.limit()
	query := "SELECT payload FROM alerts" + w.sql() + " ORDER BY time_ns DESC, seq DESC LIMIT " + strconv.Itoa(limit+1)
	rows, err := s.reads.QueryContext(ctx, s.d.rebind(query), w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("query alerts: %w", err)
	}
	defer rows.Close()
	var out []*vigilv1.Alert
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			return nil, false, fmt.Errorf("read alert row: %w", err)
		}
		a := new(vigilv1.Alert)
		if err := proto.Unmarshal(payload, a); err != nil {
			return nil, false, fmt.Errorf("decode stored alert: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("query alerts: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

const upsertNode = `INSERT INTO nodes (node, received_ns, payload) VALUES (?, ?, ?)
	ON CONFLICT (node) DO UPDATE SET received_ns = excluded.received_ns, payload = excluded.payload`

func (s *sqlStore) PutNodeStatus(ctx context.Context, st *vigilv1.NodeStatus) error {
	if st.GetNode() == "" {
		return fmt.Errorf("put node status: empty node name")
	}
	payload, err := marshal.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode status of node %q: %w", st.GetNode(), err)
	}
	if _, err := s.exec(ctx, s.writes, upsertNode, st.GetNode(), st.GetReceived().AsTime().UnixNano(), payload); err != nil {
		return fmt.Errorf("put status of node %q: %w", st.GetNode(), err)
	}
	return nil
}

func (s *sqlStore) ListNodes(ctx context.Context) ([]*vigilv1.NodeStatus, error) {
	rows, err := s.reads.QueryContext(ctx, "SELECT payload FROM nodes ORDER BY node")
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var out []*vigilv1.NodeStatus
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			return nil, fmt.Errorf("read node row: %w", err)
		}
		st := new(vigilv1.NodeStatus)
		if err := proto.Unmarshal(payload, st); err != nil {
			return nil, fmt.Errorf("decode stored node status: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

func (s *sqlStore) GetNodeStatus(ctx context.Context, node string) (*vigilv1.NodeStatus, error) {
	var payload []byte
	err := s.reads.QueryRowContext(ctx, s.d.rebind("SELECT payload FROM nodes WHERE node = ?"), node).Scan(&payload)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("status of node %q: %w", node, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get status of node %q: %w", node, err)
	}
	st := new(vigilv1.NodeStatus)
	if err := proto.Unmarshal(payload, st); err != nil {
		return nil, fmt.Errorf("decode stored status of node %q: %w", node, err)
	}
	return st, nil
}

// sizeCutoff finds the newest alert that no longer fits under maxBytes when
// alerts are kept newest first.
const sizeCutoff = `SELECT seq FROM (
	SELECT seq, SUM(size) OVER (ORDER BY seq DESC) AS total FROM alerts
) kept WHERE total > ? ORDER BY seq DESC LIMIT 1`

func (s *sqlStore) Prune(ctx context.Context, r Retention) (int64, error) {
	var deleted int64
	if r.MaxAge > 0 {
		res, err := s.exec(ctx, s.writes, "DELETE FROM alerts WHERE received_ns < ?", time.Now().Add(-r.MaxAge).UnixNano())
		if err != nil {
			return 0, fmt.Errorf("prune alerts by age: %w", err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	if r.MaxBytes > 0 {
		var total sql.NullInt64
		if err := s.writes.QueryRowContext(ctx, "SELECT SUM(size) FROM alerts").Scan(&total); err != nil {
			return deleted, fmt.Errorf("measure alerts: %w", err)
		}
		if total.Int64 > r.MaxBytes {
			var seq int64
			err := s.writes.QueryRowContext(ctx, s.d.rebind(sizeCutoff), r.MaxBytes).Scan(&seq)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return deleted, fmt.Errorf("find size cutoff: %w", err)
			}
			res, err := s.exec(ctx, s.writes, "DELETE FROM alerts WHERE seq <= ?", seq)
			if err != nil {
				return deleted, fmt.Errorf("prune alerts by size: %w", err)
			}
			n, _ := res.RowsAffected()
			deleted += n
		}
	}
	if deleted > 0 {
		for _, stmt := range s.d.afterPrune {
			if _, err := s.writes.ExecContext(ctx, stmt); err != nil {
				return deleted, fmt.Errorf("after prune: %w", err)
			}
		}
	}
	return deleted, nil
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.writes.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.name, err)
	}
	return nil
}

func (s *sqlStore) Close() error {
	err := s.writes.Close()
	if s.reads != s.writes {
		err = errors.Join(err, s.reads.Close())
	}
	return err
}

// whereClause builds a WHERE clause with ? placeholders.
type whereClause struct {
	clauses []string
	args    []any
}

func (w *whereClause) add(clause string, args ...any) {
	w.clauses = append(w.clauses, clause)
	w.args = append(w.args, args...)
}

func (w *whereClause) in(column string, values []string) {
	if len(values) > 0 {
		w.add(column+" IN ("+placeholders(len(values))+")", strArgs(values)...)
	}
}

func (w *whereClause) sql() string {
	if len(w.clauses) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.clauses, " AND ")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func strArgs(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

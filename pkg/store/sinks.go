package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// SinkStore lets a sink deliver every stored alert at least once: it reads
// alerts in the order they were stored, after a cursor it keeps here.
type SinkStore interface {
	// AlertsAfter returns up to limit alerts stored after seq, in the order
	// they were stored.
	AlertsAfter(ctx context.Context, seq int64, limit int) ([]SeqAlert, error)
	// AlertSeqRange returns the sequence numbers of the oldest and newest
	// stored alerts (0, 0 when there are none).
	AlertSeqRange(ctx context.Context) (first, last int64, err error)
	// SinkCursor returns the sequence number a sink delivered up to; ok is
	// false for a sink never seen.
	SinkCursor(ctx context.Context, sink string) (seq int64, ok bool, err error)
	// PutSinkCursor records that a sink delivered every alert up to seq.
	PutSinkCursor(ctx context.Context, sink string, seq int64) error
}

// SeqAlert is a stored alert with its sequence number, which grows with
// every alert stored. A sequence number may be skipped (PostgreSQL's
// sequence skips those of alerts stored twice) but is not reused while
// alerts after it are stored; SQLite may reuse numbers once every alert was
// deleted.
type SeqAlert struct {
	Seq   int64
	Alert *vigilv1.Alert
}

func (s *sqlStore) AlertsAfter(ctx context.Context, seq int64, limit int) ([]SeqAlert, error) {
	rows, err := s.reads.QueryContext(ctx, s.d.rebind("SELECT seq, payload FROM alerts WHERE seq > ? ORDER BY seq LIMIT ?"), seq, limit)
	if err != nil {
		return nil, fmt.Errorf("alerts after %d: %w", seq, err)
	}
	defer rows.Close()
	var out []SeqAlert
	for rows.Next() {
		var sa SeqAlert
		var payload []byte
		if err := rows.Scan(&sa.Seq, &payload); err != nil {
			return nil, fmt.Errorf("read alert row: %w", err)
		}
		sa.Alert = new(vigilv1.Alert)
		if err := proto.Unmarshal(payload, sa.Alert); err != nil {
			return nil, fmt.Errorf("decode stored alert %d: %w", sa.Seq, err)
		}
		out = append(out, sa)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alerts after %d: %w", seq, err)
	}
	return out, nil
}

func (s *sqlStore) AlertSeqRange(ctx context.Context) (int64, int64, error) {
	var first, last sql.NullInt64
	if err := s.reads.QueryRowContext(ctx, "SELECT MIN(seq), MAX(seq) FROM alerts").Scan(&first, &last); err != nil {
		return 0, 0, fmt.Errorf("alert sequence range: %w", err)
	}
	return first.Int64, last.Int64, nil
}

func (s *sqlStore) SinkCursor(ctx context.Context, sink string) (int64, bool, error) {
	var seq int64
	err := s.reads.QueryRowContext(ctx, s.d.rebind("SELECT seq FROM sink_cursors WHERE sink = ?"), sink).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cursor of sink %s: %w", sink, err)
	}
	return seq, true, nil
}

const upsertSinkCursor = `INSERT INTO sink_cursors (sink, seq) VALUES (?, ?)
	ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq`

func (s *sqlStore) PutSinkCursor(ctx context.Context, sink string, seq int64) error {
	if _, err := s.exec(ctx, s.writes, upsertSinkCursor, sink, seq); err != nil {
		return fmt.Errorf("put cursor of sink %s: %w", sink, err)
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/audit"
)

// AuditStore keeps the audit trail, a hash chain of records. It appends and
// reads; it has no way to change or delete a record, and the schema refuses
// UPDATE and DELETE on the table.
type AuditStore interface {
	// AppendAudit links r after the last stored record (setting its
	// sequence number and hashes) and stores it. Writers sharing one
	// database are serialised by the sequence number's uniqueness.
	AppendAudit(ctx context.Context, r *vigilv1.AuditRecord) error
	// AuditRecords returns the records matching q, oldest first, and
	// whether more matched than q.Limit allowed.
	AuditRecords(ctx context.Context, q AuditQuery) (records []*vigilv1.AuditRecord, truncated bool, err error)
}

// AuditQuery selects audit records after a sequence number.
type AuditQuery struct {
	AfterSeq     int64
	Since, Until time.Time
	Actor        string
	// Object matches exactly, or by prefix when it ends in "*".
	Object string
	Action string
	// Limit caps the records returned; 0 means DefaultLimit.
	Limit int
}

const auditColumns = "seq, time_ns, actor, action, object, before_version, after_version, detail, prev_hash, hash"

const insertAudit = "INSERT INTO audit (" + auditColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// appendAttempts bounds the retries when other writers append at once.
const appendAttempts = 20

func (s *sqlStore) AppendAudit(ctx context.Context, r *vigilv1.AuditRecord) error {
	if r.GetActor() == "" || r.GetAction() == "" || r.GetObject() == "" || r.GetTime() == nil {
		return errors.New("append audit record: actor, action, object and time are required")
	}
	// The time is stored in nanoseconds: hash what is stored.
	r.Time = timestamppb.New(time.Unix(0, r.GetTime().AsTime().UnixNano()))
	var err error
	for range appendAttempts {
		if err = s.appendAuditOnce(ctx, r); err == nil || !isUniqueViolation(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("append audit record %s %s: %w", r.GetAction(), r.GetObject(), err)
	}
	return nil
}

func (s *sqlStore) appendAuditOnce(ctx context.Context, r *vigilv1.AuditRecord) error {
	tx, err := s.writes.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	last, err := scanAudit(tx.QueryRowContext(ctx, "SELECT "+auditColumns+" FROM audit ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		last, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("read last record: %w", err)
	}
	audit.Link(last, r)
	if _, err := tx.ExecContext(ctx, s.d.rebind(insertAudit), r.GetSeq(), r.GetTime().AsTime().UnixNano(), r.GetActor(), r.GetAction(),
		r.GetObject(), r.GetBefore(), r.GetAfter(), r.GetDetail(), r.GetPrevHash(), r.GetHash()); err != nil {
		return err
	}
	return tx.Commit()
}

// isUniqueViolation: another writer took the sequence number. (SQLite
// has one writer connection, so only PostgreSQL gets here in practice.)
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func scanAudit(sc interface{ Scan(...any) error }) (*vigilv1.AuditRecord, error) {
	r := new(vigilv1.AuditRecord)
	var t int64
	if err := sc.Scan(&r.Seq, &t, &r.Actor, &r.Action, &r.Object, &r.Before, &r.After, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
		return nil, err
	}
	r.Time = timestamppb.New(time.Unix(0, t))
	return r, nil
}

func (s *sqlStore) AuditRecords(ctx context.Context, q AuditQuery) ([]*vigilv1.AuditRecord, bool, error) {
	var w whereClause
	w.add("seq > ?", q.AfterSeq)
	if !q.Since.IsZero() {
		w.add("time_ns >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		w.add("time_ns < ?", q.Until.UnixNano())
	}
	if q.Actor != "" {
		w.add("actor = ?", q.Actor)
	}
	if q.Action != "" {
		w.add("action = ?", q.Action)
	}
	if prefix, ok := strings.CutSuffix(q.Object, "*"); ok {
		// substr rather than LIKE: object names may hold % and _.
		w.add("substr(object, 1, ?) = ?", len(prefix), prefix)
	} else if q.Object != "" {
		w.add("object = ?", q.Object)
	}
	limit := Query{Limit: q.Limit}.limit()
	query := "SELECT " + auditColumns + " FROM audit" + w.sql() + " ORDER BY seq LIMIT " + strconv.Itoa(limit+1)
	rows, err := s.reads.QueryContext(ctx, s.d.rebind(query), w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("query audit records: %w", err)
	}
	defer rows.Close()
	var out []*vigilv1.AuditRecord
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, false, fmt.Errorf("read audit row: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("query audit records: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

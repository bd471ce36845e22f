package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// ErrNotFound is returned when a requested record does not exist.
var ErrNotFound = errors.New("not found")

// Store is everything the collector keeps. Implementations are safe for
// concurrent use.
type Store interface {
	AlertStore
	NodeStore
	ProfileStore
	SinkStore
	AuditStore
	// Prune applies a retention policy and reports how many alerts it deleted.
	Prune(ctx context.Context, r Retention) (int64, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// AlertStore keeps alerts.
type AlertStore interface {
	// PutAlerts stores alerts, each (node, id) once, and reports for every
	// alert whether it was new. The alerts are stored atomically: all or none.
	PutAlerts(ctx context.Context, alerts []*vigilv1.Alert) (isNew []bool, err error)
	// QueryAlerts returns the alerts matching q, newest first, and whether
	// more matched than q.Limit allowed.
	QueryAlerts(ctx context.Context, q Query) (alerts []*vigilv1.Alert, truncated bool, err error)
}

// NodeStore keeps the last status of every node.
type NodeStore interface {
	// PutNodeStatus replaces the status of s.Node.
	PutNodeStatus(ctx context.Context, s *vigilv1.NodeStatus) error
	// ListNodes returns the last status of every node, by node name.
	ListNodes(ctx context.Context) ([]*vigilv1.NodeStatus, error)
	// GetNodeStatus returns the last status of one node, or ErrNotFound.
	GetNodeStatus(ctx context.Context, node string) (*vigilv1.NodeStatus, error)
}

// Query selects stored alerts.
type Query struct {
	Filter Filter
	// Limit caps the number of alerts returned; 0 means DefaultLimit.
	Limit int
}

// DefaultLimit is the number of alerts a Query returns when it sets no Limit.
const DefaultLimit = 1000

// MaxLimit is the most alerts one Query returns.
const MaxLimit = 100000

func (q Query) limit() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// Retention bounds what the store keeps. Zero fields do not bound anything.
type Retention struct {
	// MaxAge deletes alerts received longer ago than this.
	MaxAge time.Duration
	// MaxBytes deletes the oldest alerts until their encoded size adds up
	// to at most this many bytes.
	MaxBytes int64
}

// Open opens the store a DSN names: postgres:// or postgresql:// URLs open
// PostgreSQL; sqlite:PATH or a plain file path opens SQLite.
func Open(ctx context.Context, dsn string) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return OpenPostgres(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite:"):
		return OpenSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case dsn == "":
		return nil, fmt.Errorf("open store: empty DSN")
	}
	return OpenSQLite(ctx, dsn)
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

var postgresDialect = dialect{
	name:           "postgres",
	numberedParams: true,
	// Alert sequence numbers are taken in insert order but become visible
	// in commit order; with every insert transaction of every collector
	// holding one lock until its commit, a reader that sees an alert sees
	// every alert numbered before it, so reading after a cursor misses
	// none. The inserts of one collector are one transaction at a time
	// anyway (writer.go); the lock makes replicas take turns.
	beforeAlerts: "SELECT pg_advisory_xact_lock(" + alertsLockKey + ")",
	// Delivered at commit to every collector listening (ListenAlerts).
	afterNewAlerts: "SELECT pg_notify('" + alertsChannel + "', MAX(seq)::text) FROM alerts",
	schema: []string{
		`CREATE TABLE IF NOT EXISTS alerts (
			seq BIGSERIAL PRIMARY KEY,
			node TEXT NOT NULL,
			id TEXT NOT NULL,
			time_ns BIGINT NOT NULL,
			received_ns BIGINT NOT NULL,
			namespace TEXT NOT NULL,
			image TEXT NOT NULL,
			image_digest TEXT NOT NULL,
			kind INTEGER NOT NULL,
			size INTEGER NOT NULL,
			payload BYTEA NOT NULL,
			UNIQUE (node, id))`,
		`CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time_ns)`,
		`CREATE INDEX IF NOT EXISTS alerts_received ON alerts (received_ns)`,
		`CREATE TABLE IF NOT EXISTS nodes (
			node TEXT PRIMARY KEY,
			received_ns BIGINT NOT NULL,
			payload BYTEA NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS profiles (
			digest TEXT NOT NULL,
			version BIGINT NOT NULL,
			mode TEXT NOT NULL,
			image TEXT NOT NULL,
			sha256 TEXT NOT NULL,
			author TEXT NOT NULL,
			nodes TEXT NOT NULL,
			created_ns BIGINT NOT NULL,
			yaml BYTEA NOT NULL,
			PRIMARY KEY (digest, version))`,
		// Every new version is announced at commit (ListenProfiles).
		`CREATE OR REPLACE FUNCTION vigil_profile_notify() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN PERFORM pg_notify('` + profilesChannel + `', NEW.digest); RETURN NULL; END $$`,
		`CREATE OR REPLACE TRIGGER profiles_notify AFTER INSERT ON profiles
			FOR EACH ROW EXECUTE FUNCTION vigil_profile_notify()`,
		`CREATE TABLE IF NOT EXISTS drafts (
			digest TEXT NOT NULL,
			node TEXT NOT NULL,
			image TEXT NOT NULL,
			updated_ns BIGINT NOT NULL,
			yaml BYTEA NOT NULL,
			PRIMARY KEY (digest, node))`,
		`CREATE TABLE IF NOT EXISTS audit (
			seq BIGINT PRIMARY KEY,
			time_ns BIGINT NOT NULL,
			actor TEXT NOT NULL,
			action TEXT NOT NULL,
			object TEXT NOT NULL,
			before_version TEXT NOT NULL,
			after_version TEXT NOT NULL,
			detail TEXT NOT NULL,
			prev_hash TEXT NOT NULL,
			hash TEXT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS audit_time ON audit (time_ns)`,
		// The audit trail is append-only (the chain shows any change that
		// gets past this).
		`CREATE OR REPLACE FUNCTION vigil_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$`,
		`CREATE OR REPLACE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
			FOR EACH ROW EXECUTE FUNCTION vigil_audit_append_only()`,
		`CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
			FOR EACH STATEMENT EXECUTE FUNCTION vigil_audit_append_only()`,
		`CREATE TABLE IF NOT EXISTS sink_cursors (
			sink TEXT PRIMARY KEY,
			seq BIGINT NOT NULL)`,
	},
}

// pgStore is the PostgreSQL store: the SQL store, and what collector
// replicas sharing it need (replicas.go).
type pgStore struct {
	*sqlStore
	dsn string
	// locks holds the transactions of profile locks (LockProfile).
	locks *sql.DB
}

// OpenPostgres connects to the PostgreSQL database a postgres:// URL names
// and creates the schema if it is missing.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s, err := newSQLStore(ctx, postgresDialect, db, db)
	if err != nil {
		return nil, err
	}
	locks, err := sql.Open("pgx", dsn)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// A collector makes one digest's versions at a time (its own mutex):
	// it holds one lock, and waits for at most a few.
	locks.SetMaxOpenConns(4)
	return &pgStore{sqlStore: s, dsn: dsn, locks: locks}, nil
}

func (s *pgStore) Close() error {
	return errors.Join(s.sqlStore.Close(), s.locks.Close())
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite durability: WAL with synchronous=FULL fsyncs the log on every
// commit, so an alert acknowledged to an agent survives a power loss. The
// collector batches inserts from all agent streams into one transaction,
// which keeps the number of fsyncs per alert low.
const sqlitePragmas = "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"

var sqliteDialect = dialect{
	name: "sqlite",
	schema: []string{
		// Only takes effect on a new database file; lets Prune give pages back.
		`PRAGMA auto_vacuum = INCREMENTAL`,
		`CREATE TABLE IF NOT EXISTS alerts (
			seq INTEGER PRIMARY KEY,
			node TEXT NOT NULL,
			id TEXT NOT NULL,
			time_ns INTEGER NOT NULL,
			received_ns INTEGER NOT NULL,
			namespace TEXT NOT NULL,
			image TEXT NOT NULL,
			image_digest TEXT NOT NULL,
			kind INTEGER NOT NULL,
			size INTEGER NOT NULL,
			payload BLOB NOT NULL,
			UNIQUE (node, id))`,
		`CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time_ns)`,
		`CREATE INDEX IF NOT EXISTS alerts_received ON alerts (received_ns)`,
		`CREATE TABLE IF NOT EXISTS nodes (
			node TEXT PRIMARY KEY,
			received_ns INTEGER NOT NULL,
			payload BLOB NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS profiles (
			digest TEXT NOT NULL,
			version INTEGER NOT NULL,
			mode TEXT NOT NULL,
			image TEXT NOT NULL,
			sha256 TEXT NOT NULL,
			author TEXT NOT NULL,
			nodes TEXT NOT NULL,
			created_ns INTEGER NOT NULL,
			yaml BLOB NOT NULL,
			PRIMARY KEY (digest, version))`,
		`CREATE TABLE IF NOT EXISTS drafts (
			digest TEXT NOT NULL,
			node TEXT NOT NULL,
			image TEXT NOT NULL,
			updated_ns INTEGER NOT NULL,
			yaml BLOB NOT NULL,
			PRIMARY KEY (digest, node))`,
		`CREATE TABLE IF NOT EXISTS audit (
			seq INTEGER PRIMARY KEY,
			time_ns INTEGER NOT NULL,
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
		`CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
			BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END`,
		`CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
			BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END`,
		`CREATE TABLE IF NOT EXISTS sink_cursors (
			sink TEXT PRIMARY KEY,
			seq INTEGER NOT NULL)`,
	},
	afterPrune: []string{`PRAGMA incremental_vacuum`},
}

// OpenSQLite opens (creating if needed) the SQLite database at path.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	if err := makePrivate(path); err != nil {
		return nil, err
	}
	// _txlock=immediate takes the write lock at BEGIN, so concurrent writers
	// wait for each other instead of failing to upgrade a read lock.
	writes, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&"+sqlitePragmas)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	writes.SetMaxOpenConns(1)
	reads, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&"+sqlitePragmas)
	if err != nil {
		writes.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	reads.SetMaxOpenConns(4)
	return newSQLStore(ctx, sqliteDialect, writes, reads)
}

// makePrivate creates the database file 0600 if it is missing, before
// SQLite does with 0644 less the umask, and makes an existing one and its
// WAL and shared-memory files 0600: they hold every alert. SQLite creates
// the WAL and shared-memory files with the database file's mode.
func makePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(name, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("make database file private: %w", err)
		}
	}
	return nil
}

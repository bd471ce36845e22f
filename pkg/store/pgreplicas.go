package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	alertsChannel   = "vigil_alerts"
	profilesChannel = "vigil_profiles"
	// alertsLockKey is the advisory lock serialising alert inserts.
	alertsLockKey = "7611350113968128001"
)

// profileLockClass is the first key of the two-key advisory locks of
// profiles (the second is the hash of a digest); two-key locks never
// collide with the one-key locks above.
const profileLockClass int32 = 0x76676c70

// RoleLeader is the leadership that runs the chores of one collector
// among replicas: retention, the sinks that deliver from the store.
const RoleLeader int64 = 7611350113968128002

func (s *pgStore) ListenAlerts(ctx context.Context, wake func(seq int64)) error {
	return s.listen(ctx, alertsChannel, func(payload string) {
		seq, err := strconv.ParseInt(payload, 10, 64)
		if err != nil {
			seq = 0 // read the store anyway
		}
		wake(seq)
	})
}

func (s *pgStore) ListenProfiles(ctx context.Context, changed func(digest string)) error {
	return s.listen(ctx, profilesChannel, changed)
}

// listen calls got with "" once it listens on channel, then with the
// payload of each notification, until ctx ends or the connection fails.
func (s *pgStore) listen(ctx context.Context, channel string, got func(payload string)) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return fmt.Errorf("connect to listen on %s: %w", channel, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen on %s: %w", channel, err)
	}
	got("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", channel, err)
		}
		got(n.Payload)
	}
}

// LockProfile takes a transaction-level advisory lock in a transaction of
// its own, on a pool of its own: collectors waiting for the lock hold
// connections of that pool only, never those the holder needs to merge.
// Rolling back frees the lock; so does the server when the connection
// dies, and database/sql rolls back when ctx ends.
func (s *pgStore) LockProfile(ctx context.Context, digest string) (func(), error) {
	tx, err := s.locks.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("lock profile %s: %w", digest, err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", profileLockClass, digest); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("lock profile %s: %w", digest, err)
	}
	return func() { tx.Rollback() }, nil
}

// Lead holds a session-level advisory lock on a connection of its own.
// PostgreSQL frees the lock when that session ends, so a leader that dies
// frees it with its connection: at once when its process exits (the kernel
// closes the socket), within the TCP keepalive set here when its host or
// network vanishes. A lease row would instead expire by clocks and need
// renewing writes. The old leader learns it lost the lock when its next
// check fails, so for up to one check interval two replicas may run the
// chores: retention deletes by age and size and is safe to run twice; a
// sink may deliver some alerts twice (at least once, never lost). A leader
// whose process dies stops at once, and its sinks' duplicates are the
// delivered part of the batch it had not saved the cursor of.
func (s *pgStore) Lead(ctx context.Context, role int64, check time.Duration) (context.Context, func(), error) {
	for {
		conn, err := s.tryLead(ctx, role, check)
		if err == nil {
			held, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				holdLock(held, conn, check)
				cancel()
			}()
			release := func() {
				cancel()
				<-done
				conn.Close(context.Background())
			}
			return held, release, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		select {
		case <-time.After(check):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// tryLead connects and tries the lock every check until it holds it; it
// returns an error when the connection fails.
func (s *pgStore) tryLead(ctx context.Context, role int64, check time.Duration) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.dsn)
	if err != nil {
		return nil, fmt.Errorf("parse postgres DSN: %w", err)
	}
	// The server ends the session of a leader whose host vanished, and
	// frees the lock, after about 10s + 3×5s without an answer.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "10"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "5"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to lead: %w", err)
	}
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", role).Scan(&got); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("try leadership: %w", err)
		}
		if got {
			return conn, nil
		}
		select {
		case <-time.After(check):
		case <-ctx.Done():
			conn.Close(context.WithoutCancel(ctx))
			return nil, ctx.Err()
		}
	}
}

// holdLock returns when ctx ends or conn stops answering.
func holdLock(ctx context.Context, conn *pgx.Conn, check time.Duration) {
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, check)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

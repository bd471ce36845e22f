package apps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vigil-dev/vigil/test/appimage"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

const pgAddr = "127.0.0.1:5432"

// pgEntrypoint starts PostgreSQL as the official image does: as root it
// makes the socket directory and drops to postgres; as postgres it
// initialises an empty data directory, then becomes the server. The log
// collector writes timestamped log files, as production setups do.
const pgEntrypoint = `#!/bin/sh
set -eu
if [ "$(id -u)" = 0 ]; then
	install -d -o postgres -g postgres -m 2775 /run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	initdb --pgdata="$PGDATA" --username=postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -c logging_collector=on "$@"
`

// PostgreSQL is Debian's PostgreSQL 15, initialised when its container
// starts.
func PostgreSQL() App {
	return App{
		Name: "postgresql",
		Recipe: appimage.Recipe{
			Name:     "vigil.test/apps/postgresql:15",
			Packages: []string{"postgresql"},
			Files: []ctrd.File{
				{Path: "dev", Mode: 0o755, Dir: true},
				{Path: "usr/local/bin/pg-entrypoint", Mode: 0o755, Data: []byte(pgEntrypoint)},
			},
			Config: ocispec.ImageConfig{
				Env: []string{
					"PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
					"PGDATA=/var/lib/postgresql/data",
				},
				Entrypoint: []string{"/usr/local/bin/pg-entrypoint"},
			},
		},
		Ready: pgReady,
		MixA:  pgMixA,
		MixB:  pgMixB,
	}
}

func pgConnect(ctx context.Context, dial Dialer, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable&connect_timeout=10", pgAddr, db))
	if err != nil {
		return nil, fmt.Errorf("connection string: %w", err)
	}
	cfg.DialFunc = dial.DialContext
	return pgx.ConnectConfig(ctx, cfg)
}

func pgReady(ctx context.Context, dial Dialer) error {
	conn, err := pgConnect(ctx, dial, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

// pgSession runs one round's statements on one connection; every
// statement is a request.
type pgSession struct {
	ctx  context.Context
	conn *pgx.Conn
	out  []Outcome
}

// pgRound connects to db and runs fn, or reports the connect as failed.
func pgRound(ctx context.Context, dial Dialer, db string, fn func(*pgSession)) []Outcome {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgConnect(ctx, dial, db)
	if err != nil {
		return []Outcome{failed("connect "+db, "%w", err)}
	}
	defer conn.Close(context.Background())
	s := &pgSession{ctx: ctx, conn: conn, out: []Outcome{ok("connect " + db)}}
	fn(s)
	return s.out
}

func (s *pgSession) exec(sql string, args ...any) {
	_, err := s.conn.Exec(s.ctx, sql, args...)
	s.record(sql, err)
}

func (s *pgSession) record(sql string, err error) {
	what := strings.Join(strings.Fields(sql), " ")
	if len(what) > 70 {
		what = what[:70] + "…"
	}
	if err != nil {
		s.out = append(s.out, failed(what, "%w", err))
		return
	}
	s.out = append(s.out, ok(what))
}

// pgMixA: an orders table written and read in small transactions, an
// index, a savepoint, a sort that spills to disk, analyze.
func pgMixA(ctx context.Context, dial Dialer, round int) []Outcome {
	return pgRound(ctx, dial, "postgres", func(s *pgSession) {
		s.exec(`CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, customer text NOT NULL,
			amount numeric(12,2) NOT NULL, created timestamptz NOT NULL DEFAULT now())`)
		s.exec(`INSERT INTO orders (customer, amount) SELECT 'customer-' || (g % 50), (g % 1000) / 10.0
			FROM generate_series(1, 500) g`)
		s.exec(`SELECT customer, count(*), sum(amount) FROM orders GROUP BY customer ORDER BY 3 DESC LIMIT 10`)
		s.exec(`UPDATE orders SET amount = amount + 1 WHERE id % 7 = $1`, round%7)
		s.exec(`CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer)`)
		s.exec(`SELECT * FROM orders WHERE customer = $1 ORDER BY created DESC LIMIT 20`, fmt.Sprintf("customer-%d", round%50))
		s.exec(`BEGIN; INSERT INTO orders (customer, amount) VALUES ('walk-in', 9.99); SAVEPOINT s;
			DELETE FROM orders WHERE customer = 'walk-in'; ROLLBACK TO SAVEPOINT s; COMMIT`)
		s.exec(`SET work_mem = '64kB'; SELECT id, md5(customer || id) FROM orders ORDER BY 2 LIMIT 5; RESET work_mem`)
		s.exec(`DELETE FROM orders WHERE id % 10 = $1`, round%10)
		s.exec(`ANALYZE orders`)
	})
}

// pgMixB: an invoices table loaded with COPY, an index built
// concurrently, a parallel aggregate and a parallel hash join that spill,
// a temporary table, vacuum, a checkpoint, and a second database.
func pgMixB(ctx context.Context, dial Dialer, round int) []Outcome {
	out := pgRound(ctx, dial, "postgres", func(s *pgSession) {
		s.exec(`CREATE TABLE IF NOT EXISTS invoices (id bigint PRIMARY KEY, customer text NOT NULL,
			total numeric(12,2) NOT NULL, issued date NOT NULL)`)
		rows := make([][]any, 1000)
		day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range rows {
			id := int64(round*len(rows) + i)
			rows[i] = []any{id, fmt.Sprintf("client-%d", id%80), fmt.Sprintf("%d.%02d", id%500, id%100), day.AddDate(0, 0, int(id%365))}
		}
		_, err := s.conn.CopyFrom(s.ctx, pgx.Identifier{"invoices"}, []string{"id", "customer", "total", "issued"}, pgx.CopyFromRows(rows))
		s.record("COPY invoices FROM STDIN", err)
		s.exec(`CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_issued ON invoices (issued)`)
		s.exec(`SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
			SET min_parallel_table_scan_size = 0; SET work_mem = '64kB'`)
		s.exec(`SELECT customer, sum(total) FROM invoices GROUP BY customer ORDER BY 2 DESC LIMIT 5`)
		s.exec(`SELECT count(*) FROM invoices a JOIN invoices b USING (id) WHERE a.total >= b.total`)
		s.exec(`RESET ALL`)
		s.exec(`CREATE TEMP TABLE recent AS SELECT * FROM invoices WHERE issued > DATE '2026-06-01'`)
		s.exec(`SELECT count(*), max(total) FROM recent`)
		s.exec(`VACUUM (ANALYZE) invoices`)
		s.exec(`CHECKPOINT`)
		s.exec(`SELECT datname, state FROM pg_stat_activity`)
		var exists bool
		err = s.conn.QueryRow(s.ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'reports')`).Scan(&exists)
		s.record("SELECT EXISTS (reports)", err)
		if err == nil && !exists {
			s.exec(`CREATE DATABASE reports`)
		}
	})
	return append(out, pgRound(ctx, dial, "reports", func(s *pgSession) {
		s.exec(`CREATE TABLE IF NOT EXISTS daily (day date PRIMARY KEY, total numeric(14,2) NOT NULL)`)
		s.exec(`INSERT INTO daily VALUES (DATE '2026-01-01' + $1::int, $2) ON CONFLICT (day) DO UPDATE SET total = EXCLUDED.total`,
			round, round*100)
		s.exec(`SELECT * FROM daily ORDER BY day DESC LIMIT 7`)
	})...)
}

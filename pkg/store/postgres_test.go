package store

import (
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/vigil-dev/vigil/test/testutil"
)

// TestPostgres runs the store suite against a real PostgreSQL server that
// the test starts in a temporary directory (Debian's postgresql package,
// installed by test/deps.sh) and stops when it ends.
func TestPostgres(t *testing.T) {
	adminDSN := testutil.StartPostgres(t)
	admin, err := sql.Open("pgx", adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var n atomic.Int64
	runSuite(t, func(t *testing.T) Store {
		// A database per test keeps the tests independent.
		name := fmt.Sprintf("vigil_test_%d", n.Add(1))
		if _, err := admin.ExecContext(testCtx(t), "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		s, err := Open(testCtx(t), fmt.Sprintf("%s&dbname=%s", adminDSN, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

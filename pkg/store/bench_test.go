package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// BenchmarkSQLitePutAlerts measures the sustained write rate of the embedded
// store, with the durability it runs with in production (WAL, fsync on commit),
// for a few transaction sizes.
//
//	go test ./pkg/store -run '^$' -bench SQLitePutAlerts -benchtime 20000x
func BenchmarkSQLitePutAlerts(b *testing.B) {
	for _, batch := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			alerts := make([]*vigilv1.Alert, batch)
			b.ResetTimer()
			start, written := time.Now(), 0
			for i := 0; i < b.N; i += batch {
				for j := range alerts {
					alerts[j] = alert("bench-node", fmt.Sprintf("alert-%d-%d", i, j), t0)
				}
				if _, err := s.PutAlerts(context.Background(), alerts); err != nil {
					b.Fatal(err)
				}
				written += batch
			}
			b.ReportMetric(float64(written)/time.Since(start).Seconds(), "alerts/s")
		})
	}
}

package collector

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// BenchmarkIngest measures how many alerts per second the collector takes
// from N agents, each on its own mTLS connection and stream, into the
// embedded SQLite store (fsync on commit). Each agent keeps up to 8 batches
// of 256 alerts in flight, as the shipper does.
//
//	go test ./pkg/collector -run '^$' -bench Ingest -benchtime 100000x
func BenchmarkIngest(b *testing.B) {
	for _, streams := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			e := startEnv(b, func(o *Options) {
				o.Logger = zap.NewNop()
				o.Limits.AlertsPerSecond = 1e9 // measure ingest, not one agent's rate limit
			})
			agents := make([]vigilv1.AgentServiceClient, streams)
			for i := range agents {
				agents[i] = e.agent(b, fmt.Sprintf("node-%d", i))
			}
			const batch, window = 256, 8
			var next atomic.Int64 // alerts handed out so far
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, agent := range agents {
				wg.Go(func() {
					if err := ingestStream(agent, &next, int64(b.N), batch, window); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "alerts/s")
			b.StopTimer()
			if got := metric(b, e.reg, "vigil_collector_alerts_stored_total"); int(got) != b.N {
				b.Fatalf("stored %v of %d", got, b.N)
			}
		})
	}
}

// ingestStream sends batches until total alerts are handed out, keeping up
// to window batches unacknowledged.
func ingestStream(agent vigilv1.AgentServiceClient, next *atomic.Int64, total int64, batch, window int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stream, err := agent.StreamAlerts(ctx)
	if err != nil {
		return err
	}
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	acked := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				select {
				case <-done:
					acked <- nil
				default:
					acked <- err
				}
				return
			}
			credits <- struct{}{}
		}
	}()
	for seq := uint64(1); ; seq++ {
		<-credits
		from := next.Add(int64(batch)) - int64(batch)
		if from >= total {
			break
		}
		n := min(int64(batch), total-from)
		if err := stream.Send(batchOf(seq, int(from), int(n))); err != nil {
			return err
		}
	}
	// Wait for the outstanding acknowledgements.
	for range window - 1 {
		<-credits
	}
	close(done)
	stream.CloseSend()
	return <-acked
}

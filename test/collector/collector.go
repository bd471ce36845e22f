// Package collectortest runs a real vigil collector inside a test.
package collectortest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/collector"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/test/testutil"
)

// Start runs a collector (SQLite store, mTLS with the PKI in certs, as
// pki.WriteSetup writes it, one node's drafts enough for a profile) on addr
// until the test ends, and returns once it listens, with the path of its
// SQLite database.
func Start(tb testing.TB, addr, certs string) string {
	tb.Helper()
	db := filepath.Join(tb.TempDir(), "c.db")
	cfg := collector.Config{Listen: addr, HTTPListen: testutil.FreeAddr(tb),
		TLSCert: filepath.Join(certs, pki.ServerCertFile), TLSKey: filepath.Join(certs, pki.ServerKeyFile),
		ClientCA: filepath.Join(certs, pki.CAFile), Store: "sqlite:" + db,
		SinkQueue: 64, SubscriberQueue: 64, MaxMessageBytes: 4 << 20, ShutdownGrace: time.Second, PruneEvery: time.Minute,
		DraftMinNodes: 1} // the tests run one node, whose drafts alone make a profile
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- collector.Run(ctx, cfg, zaptest.NewLogger(tb, zaptest.Level(zap.WarnLevel))) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("collector: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return db
		}
		select {
		case err := <-done:
			tb.Fatalf("collector: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("collector not listening on %s after 10s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

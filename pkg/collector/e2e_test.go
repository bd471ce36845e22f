package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/ship"
	"github.com/vigil-dev/vigil/pkg/store"
	"github.com/vigil-dev/vigil/test/testutil"
)

const e2eAlerts = 10000

func newShipper(t *testing.T, ca *pki.Authority, addr, dir string) (*ship.Shipper, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	s, err := ship.New(ship.Options{
		Dir: dir, Target: addr, Registerer: reg, Logger: zaptest.NewLogger(t),
		TLS:        clientTLS(t, ca, pki.Request{CommonName: "node-a", Role: pki.RoleAgent}),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(testCtx(t, 10*time.Second)) })
	return s, reg
}

// enqueue hands alerts from..to-1 to the shipper, pacing itself when the
// memory queue is full (an agent would drop and count; the test wants all).
func enqueue(t *testing.T, s *ship.Shipper, from, to int) {
	t.Helper()
	if err := tryEnqueue(s, from, to); err != nil {
		t.Fatal(err)
	}
}

func tryEnqueue(s *ship.Shipper, from, to int) error {
	for i := from; i < to; i++ {
		for {
			err := s.Enqueue(testAlert(fmt.Sprintf("alert-%06d", i)))
			if err == nil {
				break
			}
			if !errors.Is(err, ship.ErrQueueFull) {
				return err
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// requireExactlyOnce checks that the store holds alert-000000 … alert-(n-1),
// each once, all under the certificate's node.
func requireExactlyOnce(t *testing.T, st store.Store, n int) {
	t.Helper()
	alerts, _, err := st.QueryAlerts(testCtx(t, 30*time.Second), store.Query{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int, len(alerts))
	for _, a := range alerts {
		seen[a.GetId()]++
		if a.GetNode() != "node-a" {
			t.Fatalf("alert %s stored under node %q", a.GetId(), a.GetNode())
		}
	}
	for i := range n {
		if id := fmt.Sprintf("alert-%06d", i); seen[id] != 1 {
			t.Fatalf("%s stored %d times", id, seen[id])
		}
	}
	if len(alerts) != n {
		t.Fatalf("store holds %d alerts, want %d", len(alerts), n)
	}
}

func TestShipperDeliversTenThousandExactlyOnce(t *testing.T) {
	e := startEnv(t, nil)
	s, _ := newShipper(t, e.ca, e.addr, t.TempDir())
	enqueue(t, s, 0, e2eAlerts)
	if err := s.WaitDelivered(testCtx(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	requireExactlyOnce(t, e.store, e2eAlerts)
	if n := metric(t, e.reg, "vigil_collector_alerts_stored_total"); n != e2eAlerts {
		t.Fatalf("collector stored %v", n)
	}
}

func TestSpoolDeliversAfterCollectorWasDown(t *testing.T) {
	ca := newAuthority(t)
	addr := testutil.FreeAddr(t) // nothing listens here yet
	s, reg := newShipper(t, ca, addr, t.TempDir())
	enqueue(t, s, 0, e2eAlerts/2)
	waitFor(t, func() bool { return metric(t, reg, "vigil_ship_stream_errors_total") >= 2 })
	if d := metric(t, reg, "vigil_ship_delivered_total"); d != 0 {
		t.Fatalf("delivered %v with no collector", d)
	}

	e := startEnvAt(t, ca, addr, nil)
	enqueue(t, s, e2eAlerts/2, e2eAlerts)
	if err := s.WaitDelivered(testCtx(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	requireExactlyOnce(t, e.store, e2eAlerts)
}

// collectorProcess is a collector running in a child process.
type collectorProcess struct {
	cmd    *exec.Cmd
	exited chan error
}

// startCollectorProcess starts a collector process on the store dsn names,
// with more CHILD_* settings in env (see runChild).
func startCollectorProcess(t *testing.T, certs, addr, dsn string, env ...string) *collectorProcess {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1",
		"CHILD_LISTEN="+addr,
		"CHILD_TLS_CERT="+filepath.Join(certs, pki.ServerCertFile),
		"CHILD_TLS_KEY="+filepath.Join(certs, pki.ServerKeyFile),
		"CHILD_CLIENT_CA="+filepath.Join(certs, pki.CAFile),
		"CHILD_STORE="+dsn,
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &collectorProcess{cmd: cmd, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *collectorProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.exited <- nil // later kills return at once
}

func (p *collectorProcess) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("collector exited: %v", err)
		}
		p.exited <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not stop within 30s")
	}
}

func TestCollectorKilledMidStreamLosesNothing(t *testing.T) {
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1"}, Nodes: []string{"node-a"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ca := loadAuthorityForClients(t, certs)
	addr, db := testutil.FreeAddr(t), filepath.Join(t.TempDir(), "collector.db")
	first := startCollectorProcess(t, certs, addr, "sqlite:"+db)
	s, reg := newShipper(t, ca, addr, t.TempDir())

	// The first 60% go out while the first collector runs; it is killed
	// (SIGKILL) once a quarter is acknowledged, with batches in flight,
	// some stored and not yet acknowledged; the rest follow.
	enqueued := make(chan error, 1)
	go func() { enqueued <- tryEnqueue(s, 0, e2eAlerts*6/10) }()
	waitFor(t, func() bool { return metric(t, reg, "vigil_ship_delivered_total") >= e2eAlerts/4 })
	first.kill()
	second := startCollectorProcess(t, certs, addr, "sqlite:"+db)
	if err := <-enqueued; err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, e2eAlerts*6/10, e2eAlerts)
	if err := s.WaitDelivered(testCtx(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := metric(t, reg, "vigil_ship_stream_errors_total"); n < 1 {
		t.Fatal("the shipper never noticed the collector die")
	}
	second.stop(t)
	st, err := store.OpenSQLite(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	requireExactlyOnce(t, st, e2eAlerts)
}

// loadAuthorityForClients wraps a CA written by pki.WriteSetup so tests can
// issue more client certificates from it.
func loadAuthorityForClients(t *testing.T, dir string) *pki.Authority {
	ca, err := pki.LoadAuthority(filepath.Join(dir, pki.CAFile), filepath.Join(dir, pki.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestRejectedAlertIsNotResentForever sends an alert the shipper accepts
// but the collector refuses (no time): it is counted as dropped, and the
// alerts behind it are delivered.
func TestRejectedAlertIsNotResentForever(t *testing.T) {
	e := startEnv(t, nil)
	s, reg := newShipper(t, e.ca, e.addr, t.TempDir())
	bad := testAlert("no-time")
	bad.Time = nil
	if err := s.Enqueue(bad); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, 0, 10)
	if err := s.WaitDelivered(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := metric(t, reg, "vigil_ship_dropped_total", "reason", "rejected"); n != 1 {
		t.Fatalf("rejected drops = %v, want 1", n)
	}
	requireExactlyOnce(t, e.store, 10)
	if c := s.Counters(); c["ship_dropped_rejected"] != 1 || c["ship_delivered"] != 10 || c["ship_spool_pending"] != 0 {
		t.Fatalf("counters for the status report: %v", c)
	}
}

func TestRetentionRunsInTheCollector(t *testing.T) {
	e := startEnv(t, func(o *Options) {
		o.Retention = store.Retention{MaxAge: time.Millisecond}
		o.PruneEvery = 20 * time.Millisecond
	})
	s, _ := newShipper(t, e.ca, e.addr, t.TempDir())
	enqueue(t, s, 0, 100)
	if err := s.WaitDelivered(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return metric(t, e.reg, "vigil_collector_alerts_pruned_total") == 100 })
	left, _, err := e.store.QueryAlerts(testCtx(t, 10*time.Second), store.Query{})
	if err != nil || len(left) != 0 {
		t.Fatalf("after retention: %d alerts, %v", len(left), err)
	}
}

package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/sink"
	"github.com/vigil-dev/vigil/test/testutil"
)

// receiver is a webhook receiver on a fixed address that can be down: an
// https server that requires a client certificate from the test CA and a
// bearer token, and counts the alerts it got by id.
type receiver struct {
	t     *testing.T
	addr  string
	certs string
	srv   *httptest.Server

	mu  sync.Mutex
	got map[string]int
}

func (r *receiver) up() {
	r.t.Helper()
	tlsConfig, err := pki.ServerTLSFiles(filepath.Join(r.certs, pki.ServerCertFile), filepath.Join(r.certs, pki.ServerKeyFile), filepath.Join(r.certs, pki.CAFile))
	if err != nil {
		r.t.Fatal(err)
	}
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev sink.FalcoEvent
		if req.Header.Get("Authorization") != "Bearer s3cret" || json.NewDecoder(req.Body).Decode(&ev) != nil {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		r.got[ev.UUID]++
		r.mu.Unlock()
	}))
	r.srv.Listener, r.srv.TLS = l, tlsConfig
	r.srv.StartTLS()
}

func (r *receiver) down() { r.srv.Close() }

func (r *receiver) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// runCollector runs the collector as vigil-collector does until stop.
func runCollector(t *testing.T, cfg Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, zaptest.NewLogger(t)) }()
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + cfg.HTTPListen + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("collector: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestWebhookCatchesUpAfterReceiverWasDown: alerts stored while the
// webhook's receiver is down reach it once it is up, across a collector
// restart, each once, over mutual TLS with a bearer token.
func TestWebhookCatchesUpAfterReceiverWasDown(t *testing.T) {
	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"127.0.0.1"}, Nodes: []string{"node-a"},
		Consumers: []string{"webhook"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, addr: testutil.FreeAddr(t), certs: certs, got: map[string]int{}}
	hookCert, hookKey := pki.ClientFiles("webhook")
	cfg := DefaultConfig()
	cfg.Listen, cfg.HTTPListen = testutil.FreeAddr(t), testutil.FreeAddr(t)
	cfg.TLSCert, cfg.TLSKey = filepath.Join(certs, pki.ServerCertFile), filepath.Join(certs, pki.ServerKeyFile)
	cfg.ClientCA = filepath.Join(certs, pki.CAFile)
	cfg.Store = "sqlite:" + filepath.Join(t.TempDir(), "collector.db")
	cfg.WebhookURL = "https://" + r.addr + "/"
	cfg.WebhookAuthHeader = "Authorization: Bearer s3cret"
	cfg.WebhookCA, cfg.WebhookCert, cfg.WebhookKey = cfg.ClientCA, filepath.Join(certs, hookCert), filepath.Join(certs, hookKey)
	agentCert, agentKey := pki.ClientFiles("node-a")
	agentTLS, err := pki.ClientTLSFiles(filepath.Join(certs, agentCert), filepath.Join(certs, agentKey), cfg.ClientCA, "")
	if err != nil {
		t.Fatal(err)
	}
	send := func(seq uint64, from, n int) {
		t.Helper()
		stream, err := vigilv1.NewAgentServiceClient(dial(t, cfg.Listen, agentTLS)).StreamAlerts(testCtx(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(batchOf(seq, from, n)); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	retried := func() float64 {
		_, page := httpGet(t, "http://"+cfg.HTTPListen+"/metrics")
		return scrape(t, page, `vigil_sink_errors_total{sink="webhook"}`)
	}
	delivered := func(from, to int) bool {
		got := r.counts()
		for i := from; i < to; i++ {
			if got[fmt.Sprintf("alert-%06d", i)] == 0 {
				return false
			}
		}
		return true
	}

	stop := runCollector(t, cfg)
	send(1, 0, 30) // the receiver is down
	waitFor(t, func() bool { return retried() >= 3 })
	r.up()
	waitFor(t, func() bool { return delivered(0, 30) })

	// The collector restarts while the receiver is down again: the alerts
	// stored meanwhile follow when it is back, and none is sent twice.
	stop()
	r.down()
	runCollector(t, cfg)
	send(2, 30, 10)
	waitFor(t, func() bool { return retried() >= 2 })
	r.up()
	defer r.down()
	waitFor(t, func() bool { return delivered(30, 40) })
	for id, n := range r.counts() {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if got := len(r.counts()); got != 40 {
		t.Errorf("receiver got %d alerts, want 40", got)
	}
}

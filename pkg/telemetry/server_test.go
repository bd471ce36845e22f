package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	notReady := func(context.Context) error { return errors.New("store down") }
	srv, err := Listen("127.0.0.1:0", reg, nil, notReady, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for path, want := range map[string]struct {
		code int
		body string
	}{
		"/metrics": {200, "vigil_test_total 3"},
		"/healthz": {200, "ok"},
		"/readyz":  {503, "store down"},
	} {
		resp, err := http.Get("http://" + srv.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want.code || !strings.Contains(string(b), want.body) {
			t.Errorf("%s = %d %q, want %d with %q", path, resp.StatusCode, b, want.code, want.body)
		}
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+srv.Addr().String()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip") // as Prometheus asks
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Errorf("/metrics asked for gzip came %s-encoded, want plain: a gzip writer costs the agent more heap than the page", enc)
	}
	if _, err := Listen(srv.Addr().String(), reg, nil, nil, zap.NewNop()); err == nil {
		t.Error("listening on an address in use did not fail")
	}
}

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
	if _, err := Listen(srv.Addr().String(), reg, nil, nil, zap.NewNop()); err == nil {
		t.Error("listening on an address in use did not fail")
	}
}

// Package telemetry serves an agent's or collector's Prometheus metrics and
// health over HTTP: /metrics, /healthz (alive) and /readyz (ready for work).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Check reports a problem, or nil when all is well.
type Check func(context.Context) error

// checkTimeout bounds one health check.
const checkTimeout = 2 * time.Second

// Server is the telemetry HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (so a port in use fails at start-up) and serves metrics
// from gatherer; live and ready answer /healthz and /readyz (nil: always ok).
func Listen(addr string, gatherer prometheus.Gatherer, live, ready Check, log *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for telemetry on %s: %w", addr, err)
	}
	s := &Server{srv: &http.Server{Handler: Handler(gatherer, live, ready, log), ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("telemetry server stopped", zap.Error(err))
		}
	}()
	return s, nil
}

// Handler serves /metrics from gatherer, /healthz from live and /readyz from
// ready (nil checks always answer ok). /metrics is never compressed: a gzip
// writer's state is hundreds of KiB of heap, allocated afresh for a scrape
// once the collector has freed the one pooled, far more than the page it
// would compress (tens of KiB) costs on a cluster's network.
func Handler(gatherer prometheus.Gatherer, live, ready Check, log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(log), DisableCompression: true}))
	mux.HandleFunc("/healthz", checkHandler(live))
	mux.HandleFunc("/readyz", checkHandler(ready))
	return mux
}

func checkHandler(check Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if check != nil {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			if err := check(ctx); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	}
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server, letting requests in flight finish for a moment.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/telemetry"
)

// listenTelemetry serves /metrics, /healthz and /readyz on addr; when
// something else holds addr, the error ends with hint, what to do about it.
func listenTelemetry(addr string, reg prometheus.Gatherer, ready telemetry.Check, log *zap.Logger, hint string) (*telemetry.Server, error) {
	srv, err := telemetry.Listen(addr, reg, nil, ready, log)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w\n(another process listens there: %s)", err, hint)
	}
	return srv, err
}

// attached is the /readyz check of a command that sets started once its
// programs are attached and it handles SIGTERM: a caller that waits for
// ready may then measure it, or stop it cleanly.
func attached(started *atomic.Bool) telemetry.Check {
	return func(context.Context) error {
		if !started.Load() {
			return errors.New("starting: programs not attached yet")
		}
		return nil
	}
}

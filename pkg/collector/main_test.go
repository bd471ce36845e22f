package collector

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"

	"go.uber.org/zap"
)

// childEnv makes the test binary run a collector instead of tests, so a test
// can SIGKILL a real collector process and start another.
const childEnv = "VIGIL_TEST_COLLECTOR_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log, err := zap.NewDevelopment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := Config{
		Listen:     os.Getenv("CHILD_LISTEN"),
		HTTPListen: cmp.Or(os.Getenv("CHILD_HTTP_LISTEN"), "127.0.0.1:0"),
		TLSCert:    os.Getenv("CHILD_TLS_CERT"),
		TLSKey:     os.Getenv("CHILD_TLS_KEY"),
		ClientCA:   os.Getenv("CHILD_CLIENT_CA"),
		Store:      os.Getenv("CHILD_STORE"),
		WebhookURL: os.Getenv("CHILD_WEBHOOK_URL"),
	}
	// Unset or not a number: Run's default.
	cfg.SubscriberQueue, _ = strconv.Atoi(os.Getenv("CHILD_SUBSCRIBER_QUEUE"))
	if err := Run(ctx, cfg, log); err != nil {
		log.Error("collector child", zap.Error(err))
		return 1
	}
	return 0
}

package agentcert

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestDownReplicaFailsAtOnce: an address whose replica is down (nothing
// listens, the connection is refused) fails the join at once with
// Unavailable, and the next address is tried, instead of each holding the
// join for the whole timeout. Timeout is far longer than the test waits, so
// a joiner that waits for the address to come up ends in DeadlineExceeded.
func TestDownReplicaFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.WriteSetup(dir, pki.Setup{ServerNames: []string{"127.0.0.1"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("token"), 0o600); err != nil {
		t.Fatal(err)
	}
	down := []string{testutil.FreeAddr(t), testutil.FreeAddr(t)}
	j, err := New(Options{Target: strings.Join(down, ","), TokenFile: tokenFile, CAFile: filepath.Join(dir, pki.CAFile),
		Timeout: time.Minute, Logger: zaptest.NewLogger(t), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = j.join(ctx)
	if err == nil {
		t.Fatal("joined with every replica down")
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("the join waited for a down replica instead of failing: %v", err)
	}
	for _, addr := range down {
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("%s was not tried: %v", addr, err)
		}
	}
	var each interface{ Unwrap() []error }
	if !errors.As(err, &each) || len(each.Unwrap()) != len(down) {
		t.Fatalf("want one error per address: %v", err)
	}
	for _, e := range each.Unwrap() {
		if status.Code(errors.Unwrap(e)) != codes.Unavailable {
			t.Errorf("want Unavailable (connection refused): %v", e)
		}
	}
}

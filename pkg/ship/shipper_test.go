package ship

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
)

func testShipper(t *testing.T) *Shipper {
	ca, err := pki.NewAuthority("ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(pki.Request{CommonName: "n1", Role: pki.RoleAgent, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := is.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback: nothing listens, the alerts stay in the spool.
	s, err := New(Options{Dir: t.TempDir(), Target: "127.0.0.1:1", TLS: pki.ClientTLS(kp, ca.Pool(), ""), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEnqueueRefusesAlertsTheCollectorWouldRefuse(t *testing.T) {
	s := testShipper(t)
	defer s.Close(context.Background())
	if err := s.Enqueue(&vigilv1.Alert{Time: timestamppb.Now()}); err == nil {
		t.Fatal("alert without id accepted")
	}
	huge := &vigilv1.Alert{Id: "huge", Detail: strings.Repeat("x", MaxRecordBytes)}
	if err := s.Enqueue(huge); err == nil {
		t.Fatal("oversized alert accepted")
	}
	if n := testutil.ToFloat64(s.m.dropped.WithLabelValues(dropInvalid)); n != 2 {
		t.Fatalf("invalid drops = %v, want 2", n)
	}
}

func TestCloseKeepsUndeliveredAlertsForTheNextRun(t *testing.T) {
	s := testShipper(t)
	dir := s.opts.Dir
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Enqueue(&vigilv1.Alert{Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(&vigilv1.Alert{Id: "late"}); err == nil {
		t.Fatal("enqueue after Close accepted")
	}
	m, err := newShipMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := openSpool(dir, SpoolOptions{}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if p := sp.pending(); p != 3 {
		t.Fatalf("spool holds %d undelivered alerts after Close, want 3", p)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []Options{
		{Target: "x:1", TLS: &tls.Config{}, Registerer: prometheus.NewRegistry()},
		{Dir: "d", TLS: &tls.Config{}, Registerer: prometheus.NewRegistry()},
		{Dir: "d", Target: "x:1", TLS: &tls.Config{}, Registerer: prometheus.NewRegistry()},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

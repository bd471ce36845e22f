package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/draftstore"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// pollEvery is how often the demo looks for what it waits for.
const pollEvery = 250 * time.Millisecond

// waitFor calls cond until it holds, ctx ends or timeout passes; the error
// names what was awaited and cond's last error.
func waitFor(ctx context.Context, what string, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("waited %s for %s: %w", timeout, what, err)
			}
			return fmt.Errorf("waited %s for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// consumer connects to the collector as vigilctl does, with the admin
// certificate of the test PKI.
func consumer(certs, addr string) (vigilv1.ConsumerServiceClient, func() error, error) {
	cert, key := pki.ClientFiles("admin")
	tlsConfig, err := pki.ClientTLSFiles(filepath.Join(certs, cert), filepath.Join(certs, key), filepath.Join(certs, pki.CAFile), "localhost")
	if err != nil {
		return nil, nil, fmt.Errorf("consumer TLS: %w", err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		return nil, nil, fmt.Errorf("collector client: %w", err)
	}
	return vigilv1.NewConsumerServiceClient(conn), conn.Close, nil
}

// collectorProfile is the collector's latest profile of digest.
func collectorProfile(ctx context.Context, c vigilv1.ConsumerServiceClient, digest string) (*vigilv1.Profile, *profile.Profile, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := c.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest}})
	if err != nil {
		return nil, nil, err
	}
	doc, err := profile.Decode("collector", r.GetProfile().GetYaml())
	return r.GetProfile(), doc, err
}

// alertOf finds the collector's alert for digest that match accepts.
func alertOf(ctx context.Context, c vigilv1.ConsumerServiceClient, digest string, match func(*vigilv1.Alert) bool) (*vigilv1.Alert, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := c.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: &vigilv1.AlertFilter{Images: []string{digest}}})
	if err != nil {
		return nil, err
	}
	for _, a := range r.GetAlerts() {
		if match(a) {
			return a, nil
		}
	}
	return nil, nil
}

// draftOf reads the agent's saved draft of digest from its state directory,
// as `vigil-agent profiles` does, changing nothing there (the agent writes
// it meanwhile); nil while there is none.
func draftOf(agentState, digest string) (*profile.Draft, error) {
	drafts, skipped, err := draftstore.Read(filepath.Join(agentState, "drafts"), profile.Limits{})
	if err != nil {
		return nil, err
	}
	for _, d := range drafts {
		if d.Digest() == digest {
			return d, nil
		}
	}
	return nil, errors.Join(skipped...)
}

// allowsAll reports the first observation p does not allow, if any.
func allowsAll(p *profile.Profile, obs ...profile.Observation) error {
	for _, o := range obs {
		if ok, _ := p.Allows(o); !ok {
			return fmt.Errorf("%s not allowed yet", describe(o))
		}
	}
	return nil
}

func describe(o profile.Observation) string {
	if o.Kind == profile.KindConnect {
		return fmt.Sprintf("connect %s", netip.AddrPortFrom(o.Network.Addr, o.Network.Port))
	}
	return o.Kind.String() + " " + o.Path
}

// logged reports whether the JSON log at path has a line with msg whose
// fields include every one of fields.
func logged(path, msg string, fields map[string]any) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != msg {
			continue
		}
		match := true
		for k, v := range fields {
			if line[k] != v {
				match = false
			}
		}
		if match {
			return true, nil
		}
	}
	return false, sc.Err()
}

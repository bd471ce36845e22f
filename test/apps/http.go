package apps

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// requestTimeout bounds one request: the applications answer in
// milliseconds; a hang is a failure, not a wait.
const requestTimeout = 10 * time.Second

// request is one HTTP request of a mix and the status a working
// application answers it with.
type request struct {
	method, path string
	header       map[string]string
	body         []byte
	want         int
}

// httpSession sends requests to one application over connections made in
// its container's network namespace.
type httpSession struct {
	client *http.Client
	base   string // scheme and address, e.g. http://127.0.0.1:80
}

func newHTTPSession(dial Dialer, addr string) *httpSession {
	return &httpSession{
		client: &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
			DialContext: dial.DialContext,
			// Compression only where a mix asks for it.
			DisableCompression: true,
		}},
		base: "http://" + addr,
	}
}

// close drops the session's idle connections.
func (s *httpSession) close() { s.client.CloseIdleConnections() }

// do sends r and returns its outcome and the response body.
func (s *httpSession) do(ctx context.Context, r request) (Outcome, []byte) {
	what := r.method + " " + r.path
	req, err := http.NewRequestWithContext(ctx, r.method, s.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return failed(what, "build request: %w", err), nil
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return failed(what, "%w", err), nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return failed(what, "read response: %w", err), nil
	}
	if resp.StatusCode != r.want {
		return failed(what, "status %d, want %d: %.80q", resp.StatusCode, r.want, body), body
	}
	return ok(what), body
}

// all sends each request in turn.
func (s *httpSession) all(ctx context.Context, reqs []request) []Outcome {
	out := make([]Outcome, 0, len(reqs))
	for _, r := range reqs {
		o, _ := s.do(ctx, r)
		out = append(out, o)
	}
	return out
}

// httpReady returns nil once a GET of path answers 200.
func httpReady(addr, path string) func(context.Context, Dialer) error {
	return func(ctx context.Context, dial Dialer) error {
		s := newHTTPSession(dial, addr)
		defer s.close()
		if o, _ := s.do(ctx, request{method: http.MethodGet, path: path, want: http.StatusOK}); o.Err != nil {
			return fmt.Errorf("%s: %w", o.Request, o.Err)
		}
		return nil
	}
}

package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// Webhook POSTs every alert, one per request, as Falco output JSON
// (Falcosidekick's input). Any 2xx answer is success; a 4xx other than 408
// and 429 rejects the alert for good (ErrRejected); anything else is worth
// retrying.
type Webhook struct {
	url    string
	header http.Header
	client *http.Client
}

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	URL string
	// Header is sent with every request, e.g. Authorization: Bearer <token>.
	Header http.Header
	// CAFile verifies the receiver's certificate (PEM); empty: the
	// system's roots.
	CAFile string
	// CertFile and KeyFile are a client certificate to present (PEM).
	CertFile, KeyFile string
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
}

// NewWebhook reads the options' certificates and returns the webhook.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("webhook CA: %w", err)
		}
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("webhook CA %s: no PEM certificate", o.CAFile)
		}
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("webhook client certificate: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	return &Webhook{url: o.URL, header: o.Header.Clone(), client: &http.Client{Timeout: o.Timeout, Transport: transport}}, nil
}

// Write posts one alert.
func (w *Webhook) Write(ctx context.Context, a *vigilv1.Alert) error {
	body, err := json.Marshal(ToFalco(a))
	if err != nil {
		return fmt.Errorf("encode falco event: %w", errors.Join(err, ErrRejected))
	}
	return w.Post(ctx, body)
}

// Post sends one JSON document, with the answers judged as Write's.
func (w *Webhook) Post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	for k, v := range w.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("post webhook: %s: %w", resp.Status, ErrRejected)
	}
	return fmt.Errorf("post webhook: %s", resp.Status)
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

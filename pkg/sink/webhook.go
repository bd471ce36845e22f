package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// Webhook POSTs every alert, one per request, as Falco output JSON
// (Falcosidekick's input). Any 2xx answer is success.
type Webhook struct {
	url    string
	client *http.Client
}

// NewWebhook posts to url with client (nil: a client with a 10s timeout).
func NewWebhook(url string, client *http.Client) *Webhook {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Webhook{url: url, client: client}
}

// Write posts one alert.
func (w *Webhook) Write(ctx context.Context, a *vigilv1.Alert) error {
	body, err := json.Marshal(ToFalco(a))
	if err != nil {
		return fmt.Errorf("encode falco event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post webhook: %s", resp.Status)
	}
	return nil
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

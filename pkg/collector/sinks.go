package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/sink"
	"github.com/vigil-dev/vigil/pkg/sink/follow"
	"github.com/vigil-dev/vigil/pkg/store"
)

// openSinks opens the sinks fed through a queue: the JSON-lines file.
func openSinks(cfg Config, reg prometheus.Registerer, log *zap.Logger) ([]*sink.Queue, error) {
	if cfg.JSONLinesFile == "" {
		return nil, nil
	}
	j, err := sink.NewJSONLines(cfg.JSONLinesFile)
	if err != nil {
		return nil, err
	}
	q, err := sink.NewQueue("jsonl", j, sink.QueueOptions{Size: cfg.SinkQueue}, reg, log)
	if err != nil {
		j.Close()
		return nil, err
	}
	return []*sink.Queue{q}, nil
}

func closeSinks(queues []*sink.Queue, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, q := range queues {
		if err := q.Close(ctx); err != nil {
			log.Warn("close sink", zap.Error(err))
		}
	}
}

// followers are the sinks that follow the store (the webhook), running
// until stop.
type followers struct {
	list   []*follow.Follower
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// followSinks starts the sinks that deliver from the store.
func followSinks(cfg Config, st store.SinkStore, reg prometheus.Registerer, log *zap.Logger) (*followers, error) {
	ctx, cancel := context.WithCancel(context.Background())
	fs := &followers{cancel: cancel}
	if cfg.WebhookURL == "" {
		return fs, nil
	}
	w, err := newWebhook(cfg, cfg.WebhookURL)
	if err != nil {
		return fs, err
	}
	f, err := follow.New(ctx, "webhook", w, st, follow.Options{}, reg, log)
	if err != nil {
		w.Close()
		return fs, err
	}
	fs.list = append(fs.list, f)
	fs.wg.Go(func() {
		f.Run(ctx)
		f.Close()
	})
	return fs, nil
}

// newWebhook is a webhook to url with the --webhook-* header and TLS
// settings.
func newWebhook(cfg Config, url string) (*sink.Webhook, error) {
	header, err := parseHeader(cfg.WebhookAuthHeader)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagWebhookAuth, err)
	}
	return sink.NewWebhook(sink.WebhookOptions{URL: url, Header: header,
		CAFile: cfg.WebhookCA, CertFile: cfg.WebhookCert, KeyFile: cfg.WebhookKey})
}

// auditExporters are the audit trail's sinks, running until stop.
type auditExporters struct {
	list   []*AuditExporter
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// exportAudit starts the audit trail's sinks: the file, the webhook.
func exportAudit(cfg Config, st store.Store, reg prometheus.Registerer, log *zap.Logger) (*auditExporters, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ae := &auditExporters{cancel: cancel}
	start := func(name string, open func() (AuditSink, error)) error {
		out, err := open()
		if err != nil {
			return err
		}
		e, err := NewAuditExporter(ctx, name, out, st, reg, log)
		if err != nil {
			out.Close()
			return err
		}
		ae.list = append(ae.list, e)
		ae.wg.Go(func() {
			e.Run(ctx)
			e.Close()
		})
		return nil
	}
	if cfg.AuditJSONLinesFile != "" {
		if err := start("jsonl", func() (AuditSink, error) { return newAuditFile(cfg.AuditJSONLinesFile) }); err != nil {
			ae.stop()
			return nil, err
		}
	}
	if cfg.AuditWebhookURL != "" {
		err := start("webhook", func() (AuditSink, error) {
			w, err := newWebhook(cfg, cfg.AuditWebhookURL)
			return auditWebhook{w: w}, err
		})
		if err != nil {
			ae.stop()
			return nil, err
		}
	}
	return ae, nil
}

func (ae *auditExporters) stop() {
	ae.cancel()
	ae.wg.Wait()
}

// stop ends the followers; each keeps its cursor for the next run.
func (fs *followers) stop() {
	fs.cancel()
	fs.wg.Wait()
}

// parseHeader reads a "Name: value" setting ("" is no header).
func parseHeader(s string) (http.Header, error) {
	h := http.Header{}
	if s == "" {
		return h, nil
	}
	name, value, ok := strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || value == "" || strings.ContainsAny(name, " \t") {
		return nil, errors.New(`want "Name: value"`) // the value may be a secret: not repeated
	}
	h.Set(name, value)
	return h, nil
}

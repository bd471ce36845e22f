package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
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

// followers are the sinks that follow the store (the webhook); the
// collector runs them while it leads.
type followers struct {
	list []*follow.Follower
}

// followSinks makes the sinks that deliver from the store.
func followSinks(cfg Config, st store.SinkStore, reg prometheus.Registerer, log *zap.Logger) (*followers, error) {
	fs := &followers{}
	if cfg.WebhookURL == "" {
		return fs, nil
	}
	w, err := newWebhook(cfg, cfg.WebhookURL)
	if err != nil {
		return fs, err
	}
	f, err := follow.New("webhook", w, st, follow.Options{}, reg, log)
	if err != nil {
		w.Close()
		return fs, err
	}
	fs.list = append(fs.list, f)
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

// auditExporters are the audit trail's sinks; the collector runs them
// while it leads.
type auditExporters struct {
	list []*AuditExporter
}

// exportAudit makes the audit trail's sinks: the file, the webhook.
func exportAudit(cfg Config, st store.Store, reg prometheus.Registerer, log *zap.Logger) (*auditExporters, error) {
	ae := &auditExporters{}
	start := func(name string, open func() (AuditSink, error)) error {
		out, err := open()
		if err != nil {
			return err
		}
		e, err := NewAuditExporter(name, out, st, reg, log)
		if err != nil {
			out.Close()
			return err
		}
		ae.list = append(ae.list, e)
		return nil
	}
	if cfg.AuditJSONLinesFile != "" {
		if err := start("jsonl", func() (AuditSink, error) { return newAuditFile(cfg.AuditJSONLinesFile) }); err != nil {
			ae.close(log)
			return nil, err
		}
	}
	if cfg.AuditWebhookURL != "" {
		err := start("webhook", func() (AuditSink, error) {
			w, err := newWebhook(cfg, cfg.AuditWebhookURL)
			return auditWebhook{w: w}, err
		})
		if err != nil {
			ae.close(log)
			return nil, err
		}
	}
	return ae, nil
}

// close closes the audit sinks; call it after the collector stopped.
func (ae *auditExporters) close(log *zap.Logger) {
	for _, e := range ae.list {
		if err := e.Close(); err != nil {
			log.Warn("close audit sink", zap.Error(err))
		}
	}
}

// close closes the sinks; call it after the collector stopped. Each keeps
// its cursor in the store for the next run.
func (fs *followers) close(log *zap.Logger) {
	for _, f := range fs.list {
		if err := f.Close(); err != nil {
			log.Warn("close sink", zap.Error(err))
		}
	}
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

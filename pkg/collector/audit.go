package collector

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/store"
)

// Audit actions.
const (
	actionImport  = "profile.import"
	actionMode    = "profile.mode"
	actionMerge   = "profile.merge"
	actionInherit = "profile.inherit"
	actionCert    = "certificate.seen"
	actionConfig  = "collector.config"
	actionPolicy  = "approval.policy"
)

// auditTimeout bounds one append: the action it records is done already,
// so the append outlives the caller's context.
const auditTimeout = 10 * time.Second

// audit appends a record of an action that was done, and reports whether
// it was stored. A record that cannot be stored is logged and counted
// (vigil_collector_audit_errors_total); the action is not undone.
func (c *Collector) audit(ctx context.Context, actor, action, object, before, after, detail string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	r := &vigilv1.AuditRecord{Time: timestamppb.Now(), Actor: actor, Action: action, Object: object, Before: before, After: after, Detail: detail}
	if err := c.opts.Store.AppendAudit(ctx, r); err != nil {
		c.m.auditErrors.Inc()
		c.log.Error("audit record lost", zap.String("action", action), zap.String("object", object), zap.String("actor", actor), zap.Error(err))
		return false
	}
	c.m.auditRecords.WithLabelValues(action).Inc()
	for _, e := range c.opts.AuditExporters {
		e.Notify()
	}
	return true
}

// profileVersion names a stored version in audit records ("" for none).
func profileVersion(p *vigilv1.Profile) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("v%d %s sha256:%s", p.GetVersion(), modeName(p.GetMode()), p.GetSha256())
}

func modeName(m vigilv1.ProfileMode) string {
	for mode, pm := range protoModes {
		if pm == m {
			return string(mode)
		}
	}
	return m.String()
}

// lastAfter is the after version of the newest record of object and
// action ("" when there is none).
func (c *Collector) lastAfter(ctx context.Context, object, action string) (string, error) {
	var last string
	q := store.AuditQuery{Object: object, Action: action, Limit: store.MaxLimit}
	for {
		recs, truncated, err := c.opts.Store.AuditRecords(ctx, q)
		if err != nil {
			return "", err
		}
		if len(recs) > 0 {
			last, q.AfterSeq = recs[len(recs)-1].GetAfter(), recs[len(recs)-1].GetSeq()
		}
		if !truncated {
			return last, nil
		}
	}
}

// certSeen records, the first time the collector authenticates a client
// certificate, which certificate an identity now uses: the certificates
// vigilctl certs or another PKI issued, as they come into use, and each
// rotation (before: the identity's previous certificate).
func (c *Collector) certSeen(ctx context.Context, id pki.Identity, cert *x509.Certificate) {
	sum := sha256.Sum256(cert.Raw)
	fingerprint := hex.EncodeToString(sum[:])
	if _, ok := c.certsSeen.Load(fingerprint); ok {
		return
	}
	c.certMu.Lock()
	defer c.certMu.Unlock()
	if _, ok := c.certsSeen.Load(fingerprint); ok {
		return
	}
	object := "certificate:" + string(id.Role) + "/" + id.Name
	after := fmt.Sprintf("sha256:%s serial %s issuer %q valid %s..%s", fingerprint, cert.SerialNumber.Text(16),
		cert.Issuer.CommonName, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	before, err := c.lastAfter(ctx, object, actionCert)
	if err != nil {
		c.m.auditErrors.Inc()
		c.log.Error("audit: read certificate records", zap.String("object", object), zap.Error(err))
		return
	}
	// Remembered once recorded; a record that failed is tried again at the
	// certificate's next call.
	if before == after || c.audit(ctx, actorOf(id), actionCert, object, before, after, "first authenticated") {
		c.certsSeen.Store(fingerprint, cert.NotAfter)
		c.forgetExpiredCerts()
	}
}

// forgetExpiredCerts drops expired certificates from certsSeen now and
// then: joined agents renew theirs every few hours, and the set would
// otherwise grow with every renewal. Called with certMu held.
func (c *Collector) forgetExpiredCerts() {
	c.certsAdded++
	if c.certsAdded%1024 != 0 {
		return
	}
	now := time.Now()
	c.certsSeen.Range(func(k, v any) bool {
		if v.(time.Time).Before(now) {
			c.certsSeen.Delete(k)
		}
		return true
	})
}

// policyReported records a node's approved-images policy when it differs
// from the last one recorded for the node (its first report too): the
// policy lives in each agent's configuration, so a change shows as the
// first report after the agent restarts with it.
func (c *Collector) policyReported(ctx context.Context, node string, p *vigilv1.ApprovalPolicy) {
	if p == nil {
		return
	}
	after := "sha256:" + p.GetSha256() + " " + p.GetCanonical()
	if last, ok := c.policies.Load(node); ok && last == after {
		return
	}
	c.policyMu.Lock()
	defer c.policyMu.Unlock()
	object := "approval-policy:" + node
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	before, err := c.lastAfter(ctx, object, actionPolicy)
	if err != nil {
		c.m.auditErrors.Inc()
		c.log.Error("audit: read approval policy records", zap.String(logKeyNode, node), zap.Error(err))
		return
	}
	detail := "changed"
	if before == "" {
		detail = "first reported"
	}
	// Remembered once recorded; a record that failed is tried again at the
	// node's next report.
	if before == after || c.audit(ctx, "node:"+node, actionPolicy, object, before, after, detail) {
		c.policies.Store(node, after)
	}
}

func actorOf(id pki.Identity) string {
	if id.Role == pki.RoleAgent {
		return "node:" + id.Name
	}
	return "consumer:" + id.Name
}

// auditConfig records the configuration the collector starts with, and
// the one it started with before.
func (c *Collector) auditConfig(ctx context.Context, cfg Config) error {
	host, _ := os.Hostname()
	after, err := configJSON(cfg)
	if err != nil {
		return err
	}
	object := "collector:" + host
	before, err := c.lastAfter(ctx, object, actionConfig)
	if err != nil {
		return fmt.Errorf("read configuration records: %w", err)
	}
	detail := "changed"
	if before == after {
		detail = "unchanged"
	}
	c.audit(ctx, "collector:"+host, actionConfig, object, before, after, detail)
	return nil
}

// configJSON is cfg as JSON, with its secrets (the webhook's header, a
// database password) replaced.
func configJSON(cfg Config) (string, error) {
	if cfg.WebhookAuthHeader != "" {
		cfg.WebhookAuthHeader = "REDACTED"
	}
	if u, err := url.Parse(cfg.Store); err == nil && u.User != nil {
		cfg.Store = u.Redacted()
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode configuration: %w", err)
	}
	return string(b), nil
}

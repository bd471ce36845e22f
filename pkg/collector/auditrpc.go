package collector

import (
	"context"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/store"
)

// ListAudit returns audit records, oldest first.
func (s consumerService) ListAudit(ctx context.Context, req *vigilv1.ListAuditRequest) (*vigilv1.ListAuditResponse, error) {
	f := req.GetFilter()
	q := store.AuditQuery{AfterSeq: req.GetAfterSeq(), Actor: f.GetActor(), Object: f.GetObject(), Action: f.GetAction(), Limit: int(req.GetLimit())}
	if f.GetSince() != nil {
		q.Since = f.GetSince().AsTime()
	}
	if f.GetUntil() != nil {
		q.Until = f.GetUntil().AsTime()
	}
	recs, truncated, err := s.c.opts.Store.AuditRecords(ctx, q)
	if err != nil {
		return nil, storeError("list audit records", err)
	}
	return &vigilv1.ListAuditResponse{Records: recs, Truncated: truncated}, nil
}

package collector

import (
	"context"
	"errors"
	"io"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// agentService implements the agent API.
type agentService struct {
	vigilv1.UnimplementedAgentServiceServer
	c *Collector
}

// StreamAlerts stores each batch, fans out the alerts that were new, and
// acknowledges the batch. When the collector stops, the stream ends after
// the batch in hand (UNAVAILABLE), and the agent resends what was not
// acknowledged to the next collector.
func (s agentService) StreamAlerts(stream vigilv1.AgentService_StreamAlertsServer) error {
	c := s.c
	id := identityFrom(stream.Context())
	node := id.Name
	c.m.agentStreams.Inc()
	defer c.m.agentStreams.Dec()
	batches, recvErr := make(chan *vigilv1.AlertBatch), make(chan error, 1)
	go func() {
		for {
			b, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case batches <- b:
			case <-stream.Context().Done():
				return
			}
		}
	}()
	for {
		var batch *vigilv1.AlertBatch
		select {
		case batch = <-batches:
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-c.stopping:
			return status.Error(codes.Unavailable, "collector is shutting down")
		}
		if n := len(batch.GetAlerts()); n > c.opts.MaxBatchAlerts {
			c.m.rejected.WithLabelValues("batch_too_large").Add(float64(n))
			return status.Errorf(codes.InvalidArgument, "batch of %d alerts, limit %d", n, c.opts.MaxBatchAlerts)
		}
		if err := c.limits.alerts(stream.Context(), id, len(batch.GetAlerts())); err != nil {
			return status.FromContextError(err).Err()
		}
		ack, err := c.ingest(stream.Context(), node, batch)
		if err != nil {
			return err
		}
		if err := stream.Send(ack); err != nil {
			return err
		}
	}
}

func (c *Collector) ingest(ctx context.Context, node string, batch *vigilv1.AlertBatch) (*vigilv1.AlertAck, error) {
	ack := &vigilv1.AlertAck{Seq: batch.GetSeq()}
	valid := make([]*vigilv1.Alert, 0, len(batch.GetAlerts()))
	c.m.received.Add(float64(len(batch.GetAlerts())))
	now := time.Now()
	for i, a := range batch.GetAlerts() {
		if err := validateAlert(a); err != nil {
			c.m.rejected.WithLabelValues("invalid").Inc()
			ack.Rejected = append(ack.Rejected, &vigilv1.AlertRejection{
				Index: uint32(i), Id: a.GetId(), Code: uint32(codes.InvalidArgument), Message: err.Error(),
			})
			c.log.Warn("rejected alert", zap.String(logKeyNode, node), zap.String(logKeyAlertID, a.GetId()), zap.Error(err))
			continue
		}
		a.Node = node
		c.fixTimes(a, now)
		valid = append(valid, a)
	}
	isNew, err := c.writer.write(ctx, valid)
	if err != nil {
		c.m.storeErrors.Inc()
		c.log.Error("store alerts", zap.String(logKeyNode, node), zap.Error(err))
		return nil, status.Errorf(codes.Unavailable, "store alerts: %v", err)
	}
	stored := false
	for i, a := range valid {
		ack.Ids = append(ack.Ids, a.GetId())
		if !isNew[i] {
			c.m.duplicates.Inc()
			continue
		}
		stored = true
		c.m.stored.Inc()
		for _, q := range c.opts.Sinks {
			q.Enqueue(a)
		}
	}
	if stored {
		c.feed.wake(0)
		c.wakeFollowers()
	}
	return ack, nil
}

// ReportStatus stores the heartbeat under the certificate's node name,
// and audits a change of the node's approval policy.
func (s agentService) ReportStatus(ctx context.Context, st *vigilv1.NodeStatus) (*vigilv1.ReportStatusResponse, error) {
	if err := validateStatus(st); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	st.Node = identityFrom(ctx).Name
	st.Received = timestamppb.Now()
	if st.Time != nil && !representable(st.Time) {
		s.c.log.Warn("node status time unrepresentable; dropped", zap.String(logKeyNode, st.Node), zap.String("time", agentTimeString(st.Time)))
		st.Time = nil
	}
	if err := s.c.opts.Store.PutNodeStatus(ctx, st); err != nil {
		s.c.log.Error("store node status", zap.String(logKeyNode, st.Node), zap.Error(err))
		return nil, status.Errorf(codes.Unavailable, "store status: %v", err)
	}
	s.c.m.statusReports.Inc()
	s.c.policyReported(ctx, st.Node, st.GetApprovalPolicy())
	return &vigilv1.ReportStatusResponse{}, nil
}

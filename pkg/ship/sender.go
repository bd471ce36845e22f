package ship

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// Log field keys.
const (
	logKeyBackoff = "backoff"
	logKeyAlertID = "alert_id"
	logKeyReason  = "reason"
)

// sendLoop keeps an alert stream open, reopening it with backoff.
func (s *Shipper) sendLoop(ctx context.Context) {
	defer close(s.sDone)
	bo := newBackoff(s.opts.MinBackoff, s.opts.MaxBackoff)
	for {
		progressed, err := s.session(ctx)
		s.m.connected.Set(0)
		if ctx.Err() != nil {
			return
		}
		s.m.reconnects.Inc()
		if progressed {
			bo.reset()
		}
		sleep := bo.wait()
		s.log.Info("alert stream ended; reconnecting", zap.Error(err), zap.Duration(logKeyBackoff, sleep))
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return
		}
	}
}

// inflight is a batch sent and not yet acknowledged.
type inflight struct {
	seq     uint64
	lastRec uint64
	ids     []string
	recs    int // records the batch covers, sent or dropped
}

// session streams from the first undelivered record until the stream
// fails; it reports whether any batch was acknowledged.
func (s *Shipper) session(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.client.StreamAlerts(ctx)
	if err != nil {
		return false, fmt.Errorf("open alert stream: %w", err)
	}
	acks, recvErr := make(chan *vigilv1.AlertAck), make(chan error, 1)
	go func() {
		for {
			ack, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case acks <- ack:
			case <-ctx.Done():
				return
			}
		}
	}()

	reader := s.spool.newReader()
	defer reader.closeFile()
	var pending []inflight
	inflightAlerts, batchSeq, progressed := 0, uint64(0), false
	for {
		for inflightAlerts < s.opts.MaxInflight {
			recs, err := reader.read(min(s.opts.BatchSize, s.opts.MaxInflight-inflightAlerts))
			if err != nil {
				return progressed, err
			}
			if len(recs) == 0 {
				break
			}
			batchSeq++
			batch, ids := s.decodeBatch(batchSeq, recs)
			if err := stream.Send(batch); err != nil {
				return progressed, fmt.Errorf("send alerts: %w", err)
			}
			s.m.sent.Add(float64(len(recs)))
			pending = append(pending, inflight{seq: batchSeq, lastRec: recs[len(recs)-1].seq, ids: ids, recs: len(recs)})
			inflightAlerts += len(recs)
		}
		var more <-chan struct{}
		if inflightAlerts < s.opts.MaxInflight {
			more = s.spool.notify
		}
		select {
		case ack := <-acks:
			if len(pending) == 0 || ack.GetSeq() != pending[0].seq {
				return progressed, fmt.Errorf("acknowledgement for batch %d, none or another expected", ack.GetSeq())
			}
			if err := s.settle(pending[0], ack); err != nil {
				return progressed, err
			}
			if !progressed {
				s.m.connected.Set(1)
			}
			inflightAlerts -= pending[0].recs
			pending, progressed = pending[1:], true
		case err := <-recvErr:
			return progressed, fmt.Errorf("receive acknowledgements: %w", err)
		case <-more:
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
	}
}

// decodeBatch rebuilds the alerts of spool records. A record that does not
// decode (written by another version, or holding a string that is not
// UTF-8) is dropped alone and counted as invalid: failing the batch would
// end the stream and resend the same batch forever. The batch still covers
// it, so it is marked delivered with the others.
func (s *Shipper) decodeBatch(seq uint64, recs []record) (*vigilv1.AlertBatch, []string) {
	batch := &vigilv1.AlertBatch{Seq: seq, Alerts: make([]*vigilv1.Alert, 0, len(recs))}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		a := new(vigilv1.Alert)
		if err := proto.Unmarshal(r.payload, a); err != nil {
			s.m.dropped.WithLabelValues(dropInvalid).Inc()
			s.log.Error("spooled alert does not decode; dropped", zap.Uint64("record", r.seq), zap.Error(err))
			continue
		}
		batch.Alerts, ids = append(batch.Alerts, a), append(ids, a.GetId())
	}
	return batch, ids
}

// settle checks that the acknowledgement covers every alert of the batch,
// by id, and marks the batch delivered. Rejected alerts are dropped and
// counted: resending them would fail again.
func (s *Shipper) settle(b inflight, ack *vigilv1.AlertAck) error {
	done := make(map[string]bool, len(ack.GetIds()))
	for _, id := range ack.GetIds() {
		done[id] = true
	}
	for _, r := range ack.GetRejected() {
		done[r.GetId()] = true
		s.m.dropped.WithLabelValues(dropRejected).Inc()
		s.log.Warn("collector rejected alert", zap.String(logKeyAlertID, r.GetId()),
			zap.Stringer("code", codes.Code(r.GetCode())), zap.String(logKeyReason, r.GetMessage()))
	}
	for _, id := range b.ids {
		if !done[id] {
			return errors.New("acknowledgement misses alert " + id)
		}
	}
	s.m.delivered.Add(float64(len(ack.GetIds())))
	if err := s.spool.markDelivered(b.lastRec); err != nil {
		s.log.Warn("write the spool's delivered cursor; delivery goes on", zap.Error(err))
	}
	return nil
}

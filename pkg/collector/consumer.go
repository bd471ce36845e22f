package collector

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/store"
)

// consumerService implements the consumer API.
type consumerService struct {
	vigilv1.UnimplementedConsumerServiceServer
	c *Collector
}

func alertKey(a *vigilv1.Alert) string { return a.GetNode() + "\x00" + a.GetId() }

// WatchAlerts subscribes before it replays stored alerts, so nothing falls
// between the replay and the live stream; alerts seen in both are sent once.
func (s consumerService) WatchAlerts(req *vigilv1.WatchAlertsRequest, stream vigilv1.ConsumerService_WatchAlertsServer) error {
	c := s.c
	ctx := stream.Context()
	if err := checkFilterTimes(req.GetFilter()); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	f := store.FilterFromProto(req.GetFilter())
	sub := c.hub.subscribe(f, c.opts.SubscriberQueue)
	defer c.hub.unsubscribe(sub)
	// Headers tell the client the subscription is live.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}

	replayed := map[string]bool{}
	if !f.Since.IsZero() {
		stored, _, err := c.opts.Store.QueryAlerts(ctx, store.Query{Filter: f, Limit: store.MaxLimit})
		if err != nil {
			return status.Errorf(codes.Unavailable, "query stored alerts: %v", err)
		}
		for _, a := range slices.Backward(stored) {
			replayed[alertKey(a)] = true
			if err := stream.Send(&vigilv1.WatchAlertsResponse{Event: &vigilv1.WatchAlertsResponse_Alert{Alert: a}}); err != nil {
				return err
			}
		}
	}
	for {
		select {
		case a := <-sub.ch:
			if replayed[alertKey(a)] {
				delete(replayed, alertKey(a))
				continue
			}
			if n := sub.takeDropped(); n > 0 {
				ev := &vigilv1.WatchAlertsResponse{Event: &vigilv1.WatchAlertsResponse_Dropped{Dropped: &vigilv1.AlertsDropped{Count: n}}}
				if err := stream.Send(ev); err != nil {
					return err
				}
			}
			if err := stream.Send(&vigilv1.WatchAlertsResponse{Event: &vigilv1.WatchAlertsResponse_Alert{Alert: a}}); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		case <-c.stopping:
			return status.Error(codes.Unavailable, "collector is shutting down")
		}
	}
}

// ListAlerts queries the store.
func (s consumerService) ListAlerts(ctx context.Context, req *vigilv1.ListAlertsRequest) (*vigilv1.ListAlertsResponse, error) {
	if err := checkFilterTimes(req.GetFilter()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	alerts, truncated, err := s.c.opts.Store.QueryAlerts(ctx, store.Query{
		Filter: store.FilterFromProto(req.GetFilter()), Limit: int(req.GetLimit()),
	})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "query alerts: %v", err)
	}
	return &vigilv1.ListAlertsResponse{Alerts: alerts, Truncated: truncated}, nil
}

// ListNodes returns every node's last status.
func (s consumerService) ListNodes(ctx context.Context, _ *vigilv1.ListNodesRequest) (*vigilv1.ListNodesResponse, error) {
	nodes, err := s.c.opts.Store.ListNodes(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "list nodes: %v", err)
	}
	return &vigilv1.ListNodesResponse{Nodes: nodes}, nil
}

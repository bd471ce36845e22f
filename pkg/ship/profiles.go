package ship

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// ProfileWatch follows the collector's profile stream for an agent.
type ProfileWatch struct {
	// Digests limits the stream to these image digests; empty means all.
	Digests []string
	// Handle receives every update in order: on each (re)connection the
	// latest version of every profile, then an update with
	// SnapshotComplete, then each new version. A handler error ends Run.
	Handle func(*vigilv1.ProfileUpdate) error
	// Reconnect backoff (defaults 100ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *zap.Logger
}

// Run follows the stream on conn (Shipper.Conn) until ctx ends or Handle
// fails, reconnecting with backoff. Because every connection starts with a
// full snapshot, an agent that was cut off misses no change.
func (w ProfileWatch) Run(ctx context.Context, conn grpc.ClientConnInterface) error {
	if w.Handle == nil {
		return fmt.Errorf("profile watch: no handler")
	}
	log := w.Logger
	if log == nil {
		log = zap.NewNop()
	}
	minB, maxB := w.MinBackoff, w.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB < minB {
		maxB = max(30*time.Second, minB)
	}
	bo := newBackoff(minB, maxB)
	client := vigilv1.NewAgentServiceClient(conn)
	for {
		synced, err := w.session(ctx, client)
		if ctx.Err() != nil {
			return nil
		}
		if _, ok := err.(handlerError); ok {
			return err
		}
		if synced {
			bo.reset()
		}
		sleep := bo.wait()
		log.Info("profile stream ended; reconnecting", zap.Error(err), zap.Duration(logKeyBackoff, sleep))
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return nil
		}
	}
}

// handlerError marks an error from Handle, which ends Run.
type handlerError struct{ error }

func (e handlerError) Unwrap() error { return e.error }

func (w ProfileWatch) session(ctx context.Context, client vigilv1.AgentServiceClient) (bool, error) {
	stream, err := client.WatchProfiles(ctx, &vigilv1.WatchProfilesRequest{ImageDigests: w.Digests})
	if err != nil {
		return false, fmt.Errorf("open profile stream: %w", err)
	}
	synced := false
	for {
		u, err := stream.Recv()
		if err != nil {
			return synced, fmt.Errorf("receive profiles: %w", err)
		}
		synced = synced || u.GetSnapshotComplete()
		if err := w.Handle(u); err != nil {
			return synced, handlerError{fmt.Errorf("handle profile update: %w", err)}
		}
	}
}

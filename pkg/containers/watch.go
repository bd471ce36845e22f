package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/typeurl/v2"
	"go.uber.org/zap"
)

// connectTimeout bounds dialing containerd and its first answer.
const connectTimeout = 5 * time.Second

// Topics followed. Several filters are alternatives.
var eventFilters = []string{
	`topic=="/tasks/create"`,
	`topic=="/tasks/start"`,
	`topic=="/tasks/exit"`,
	`topic=="/containers/delete"`,
}

// connError is why a session with containerd ended; reason is the metric label.
type connError struct {
	reason string
	err    error
}

func (e *connError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// Run follows containerd until ctx is cancelled, then returns nil. Each
// session subscribes to events, takes an inventory, and handles events until
// the stream breaks; then Run waits (backing off from MinBackoff to
// MaxBackoff) and starts another. While disconnected, Lookup attributes host
// processes and counts container-like cgroups as unattributed.
func (r *Resolver) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.sweepUntil(ctx) })

	backoff := r.cfg.MinBackoff
	lastReason := ""
	for {
		started := time.Now()
		err := r.session(ctx)
		r.setConnection(nil, nil)
		r.m.connected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		reason := connLost
		var ce *connError
		if errors.As(err, &ce) {
			reason = ce.reason
		}
		r.m.connectionErrors.WithLabelValues(reason).Inc()
		if time.Since(started) > r.cfg.MaxBackoff {
			backoff = r.cfg.MinBackoff // that session worked for a while: retry promptly
		}
		logAt := r.log.Debug
		if reason != lastReason {
			logAt = r.log.Warn // once per kind of failure, not once per retry
		}
		logAt("containerd unavailable: attributing to host only until it is back",
			zap.String(keyReason, reason), zap.Duration(keyRetryIn, backoff), zap.Error(err))
		lastReason = reason
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		case <-r.kick:
		}
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
}

func (r *Resolver) sweepUntil(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Linger / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.tbl.sweep()
		}
	}
}

// session is one connection to containerd, until it breaks or ctx ends.
func (r *Resolver) session(ctx context.Context) error {
	if err := probeSocket(r.cfg.Socket); err != nil {
		return err
	}
	cl, err := client.New(r.cfg.Socket, client.WithTimeout(connectTimeout))
	if err != nil {
		return &connError{connUnreachable, err}
	}
	defer cl.Close()
	vctx, cancel := context.WithTimeout(ctx, connectTimeout)
	version, err := cl.Version(vctx)
	cancel()
	if err != nil {
		return &connError{connNotContainerd, fmt.Errorf("containerd version: %w", err)}
	}

	// Subscribe before the inventory, so nothing happens unseen between them.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, errs := cl.Subscribe(sctx, eventFilters...)
	nss, err := r.inventory(ctx, cl)
	if err != nil {
		return &connError{connInventory, err}
	}
	r.setConnection(cl, nss)
	r.m.connected.Set(1)
	r.log.Info("following containerd", zap.String(keyVersion, version.Version),
		zap.Strings(keyNamespace, nss), zap.Int(keyContainers, len(r.tbl.containers())))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-evs:
			r.handle(ctx, cl, ev)
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return &connError{connLost, err}
		}
	}
}

// probeSocket tells a missing socket and one nobody listens on from one
// that accepts connections.
func probeSocket(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return &connError{connNoSocket, err}
	}
	if st.Mode()&os.ModeSocket == 0 {
		return &connError{connNotContainerd, fmt.Errorf("%s is not a socket", path)}
	}
	conn, err := net.DialTimeout("unix", path, connectTimeout)
	if err != nil { // ECONNREFUSED: a stale socket of a containerd that died
		return &connError{connUnreachable, err}
	}
	return conn.Close()
}

// inventory resolves every container with a live task, in every namespace,
// and retires the ones known that have none any more.
func (r *Resolver) inventory(ctx context.Context, cl *client.Client) ([]string, error) {
	nss, err := cl.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	nss = orderNamespaces(nss)
	running := map[key]bool{}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		resp, err := cl.TaskService().List(nctx, &tasks.ListTasksRequest{})
		if err != nil {
			return nil, fmt.Errorf("list tasks of %s: %w", ns, err)
		}
		if len(resp.Tasks) == 0 {
			continue
		}
		recs, err := cl.ContainerService().List(nctx)
		if err != nil {
			return nil, fmt.Errorf("list containers of %s: %w", ns, err)
		}
		byID := make(map[string]containers.Container, len(recs))
		for _, rec := range recs {
			byID[rec.ID] = rec
		}
		for _, t := range resp.Tasks {
			rec, ok := byID[t.ID]
			if !ok || !taskLive(t.Status) {
				continue
			}
			running[key{ns, t.ID}] = true
			c, err := r.loader.fromRecord(nctx, cl, ns, rec, t.Pid, SourceInventory)
			if err != nil {
				r.m.resolveErrors.WithLabelValues(SourceInventory).Inc()
				r.log.Warn("resolve running container", zap.String(keyNamespace, ns),
					zap.String(keyContainerID, t.ID), zap.Error(err))
				continue
			}
			c.KnownAt = time.Now()
			r.tbl.add(c)
		}
	}
	r.tbl.reconcile(running)
	return nss, nil
}

func taskLive(s task.Status) bool {
	switch s {
	case task.Status_CREATED, task.Status_RUNNING, task.Status_PAUSED, task.Status_PAUSING:
		return true
	}
	return false
}

// handle applies one containerd event.
func (r *Resolver) handle(ctx context.Context, cl *client.Client, ev *events.Envelope) {
	r.m.events.WithLabelValues(ev.Topic).Inc()
	r.addNamespace(ev.Namespace)
	decoded, err := typeurl.UnmarshalAny(ev.Event)
	if err != nil {
		r.log.Warn("decode containerd event", zap.String(keyTopic, ev.Topic), zap.Error(err))
		return
	}
	switch e := decoded.(type) {
	case *apievents.TaskCreate:
		r.learn(ctx, cl, ev.Namespace, e.ContainerID, e.Pid, ev.Timestamp)
	case *apievents.TaskStart:
		if !r.tbl.isLive(key{ev.Namespace, e.ContainerID}) {
			r.learn(ctx, cl, ev.Namespace, e.ContainerID, e.Pid, time.Time{})
		}
	case *apievents.TaskExit:
		if e.ID == e.ContainerID { // the init process: the task is over
			r.tbl.exited(key{ev.Namespace, e.ContainerID})
		}
	case *apievents.ContainerDelete:
		r.tbl.removed(key{ev.Namespace, e.ID})
	}
}

// learn resolves a container whose task was created (createdAt: when
// containerd said so; zero if the create event was missed).
func (r *Resolver) learn(ctx context.Context, cl *client.Client, ns, id string, pid uint32, createdAt time.Time) {
	c, err := r.loader.load(ctx, cl, ns, id, pid, SourceEvent)
	if err != nil {
		r.m.resolveErrors.WithLabelValues(SourceEvent).Inc()
		r.log.Warn("resolve created container", zap.String(keyNamespace, ns),
			zap.String(keyContainerID, id), zap.Error(err))
		return
	}
	c.CreatedAt, c.KnownAt = createdAt, time.Now()
	stored := r.tbl.add(c)
	if !createdAt.IsZero() {
		r.m.knownDelay.Observe(max(0, stored.KnownAt.Sub(createdAt)).Seconds())
	}
	r.log.Debug("container known", zap.String(keyNamespace, ns), zap.String(keyContainerID, id),
		zap.Uint64(keyCgroupID, stored.CgroupID), zap.String(keyImageDigest, stored.ImageDigest))
}

package containers

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/vigil-dev/vigil/pkg/cgroup"
	"github.com/vigil-dev/vigil/pkg/procfs"
)

// DefaultSocket is containerd's socket on a Kubernetes node.
const DefaultSocket = "/run/containerd/containerd.sock"

// K8sNamespace is the containerd namespace of Kubernetes' containers, listed
// and searched first.
const K8sNamespace = "k8s.io"

// Log field keys.
const (
	keySocket      = "socket"
	keyContainerID = "container_id"
	keyNamespace   = "namespace"
	keyCgroupID    = "cgroup_id"
	keyCgroupPath  = "cgroup_path"
	keyScope       = "scope"
	keyImage       = "image"
	keyImageDigest = "image_digest"
	keyReason      = "reason"
	keyRetryIn     = "retry_in"
	keyTopic       = "topic"
	keyVersion     = "containerd_version"
	keyContainers  = "containers"
)

// Config configures a Resolver. The zero value of each field but Registerer
// picks the default.
type Config struct {
	// Socket is containerd's gRPC socket; DefaultSocket when empty.
	Socket string
	// Logger receives connection changes and resolution problems; none when nil.
	Logger *zap.Logger
	// Registerer takes the resolver's metrics (vigil_containers_*). Required.
	Registerer prometheus.Registerer
	// Scopes is the kernel's cgroup-to-scope table to keep in sync; none when nil.
	Scopes ScopeTable
	// HostCgroups is the kernel's set of host cgroups to mark each host
	// cgroup in as it is resolved, and the root cgroup at once; none when nil.
	HostCgroups HostCgroups
	// Cgroup2Mount is where the cgroup2 hierarchy is mounted; found in
	// ProcRoot's self/mountinfo when empty.
	Cgroup2Mount string
	// ProcRoot is the proc filesystem of the host's pid namespace;
	// procfs.DefaultRoot when empty.
	ProcRoot string
	// MinBackoff and MaxBackoff bound the wait between connection attempts
	// (doubling from min to max); 100ms and 5s when zero.
	MinBackoff, MaxBackoff time.Duration
	// ResolveTimeout bounds an on-demand resolution in Lookup; 2s when zero.
	ResolveTimeout time.Duration
	// Linger is how long a container stays resolvable after its task exited
	// or it was deleted, for events still on their way; 1 minute when zero.
	Linger time.Duration
}

func (c *Config) setDefaults() {
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.ProcRoot == "" {
		c.ProcRoot = procfs.DefaultRoot
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.ResolveTimeout == 0 {
		c.ResolveTimeout = 2 * time.Second
	}
	if c.Linger == 0 {
		c.Linger = time.Minute
	}
}

// Resolver maps cgroup ids to containers. Create it with New, start it with
// Run, query it with Lookup from any goroutine, and Close it after Run has
// returned.
type Resolver struct {
	cfg    Config
	log    *zap.Logger
	m      *metrics
	cg     *cgroup.FS
	tbl    *table
	loader *loader
	flight singleflight.Group

	mu  sync.RWMutex
	cl  *client.Client // nil while not connected
	nss []string       // containerd namespaces, k8s.io first
	up  chan struct{}  // closed while connected; replaced on disconnect

	// kick cuts Run's backoff short: a container event arrived while
	// disconnected, so containerd is most likely back.
	kick chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New returns a Resolver of the containerd at cfg.Socket. It does not
// connect (Run does, so a missing containerd is no error here); it fails
// when no cgroup2 mount is found, since kernel cgroup ids mean nothing
// without one, or when its metrics cannot be registered.
func New(cfg Config) (*Resolver, error) {
	cfg.setDefaults()
	if cfg.Registerer == nil {
		return nil, errors.New("containers: Config.Registerer is required")
	}
	cg, err := cgroup.Open(cfg.Cgroup2Mount, cfg.ProcRoot)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		_ = cg.Close()
		return nil, err
	}
	log := cfg.Logger.With(zap.String(keySocket, cfg.Socket))
	tbl := newTable(cfg.Scopes, m, log, cfg.Linger)
	tbl.setHostCgroups(cfg.HostCgroups, cg.RootID())
	return &Resolver{
		cfg:    cfg,
		log:    log,
		m:      m,
		cg:     cg,
		tbl:    tbl,
		up:     make(chan struct{}),
		kick:   make(chan struct{}, 1),
		loader: &loader{cg: cg, procRoot: cfg.ProcRoot, log: log, m: m, facts: map[digest.Digest]imageFacts{}},
	}, nil
}

// Close releases the cgroup2 mount. Call it after Run has returned; it is
// idempotent.
func (r *Resolver) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.cg.Close() })
	return r.closeErr
}

// Connected reports whether the resolver is following containerd now.
func (r *Resolver) Connected() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cl != nil
}

// Containers returns the containers with a live task.
func (r *Resolver) Containers() []*Container {
	return r.tbl.containers()
}

// Lookup attributes a kernel event from cgroup cgroupID. A known container
// is answered from memory. An unknown cgroup is resolved on demand, bounded
// by Config.ResolveTimeout and ctx: its path is found from the id; a path
// of no container's shape is the host; otherwise the container is loaded
// from containerd, or the event is Unattributed (and counted). Safe for
// concurrent use.
func (r *Resolver) Lookup(ctx context.Context, cgroupID uint64) Attribution {
	if c := r.tbl.get(cgroupID); c != nil {
		return Attribution{Kind: InContainer, Container: c}
	}
	if cgroupID == r.cg.RootID() {
		return Attribution{Kind: Host}
	}
	a, ok := r.tbl.cached(cgroupID)
	if !ok {
		v, _, _ := r.flight.Do(strconv.FormatUint(cgroupID, 10), func() (any, error) {
			return r.resolve(ctx, cgroupID), nil
		})
		a = v.(Attribution)
	}
	if a.Kind == Unattributed {
		r.m.unattributed.WithLabelValues(a.Reason).Inc()
	}
	return a
}

// Known attributes cgroupID from what the resolver already knows, without
// asking containerd or counting anything; ok is false for a cgroup it has
// not attributed yet.
func (r *Resolver) Known(cgroupID uint64) (a Attribution, ok bool) {
	if c := r.tbl.get(cgroupID); c != nil {
		return Attribution{Kind: InContainer, Container: c}, true
	}
	if cgroupID == r.cg.RootID() {
		return Attribution{Kind: Host}, true
	}
	return r.tbl.cached(cgroupID)
}

// resolve is Lookup's on-demand path.
func (r *Resolver) resolve(ctx context.Context, id uint64) Attribution {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ResolveTimeout)
	defer cancel()
	a := r.resolveUncached(ctx, id)
	r.m.onDemand.WithLabelValues(a.Kind.String()).Inc()
	switch a.Kind {
	case Host:
		r.tbl.markHost(id)
	case Unattributed:
		r.tbl.markUnresolved(id, a)
	}
	return a
}

func (r *Resolver) resolveUncached(ctx context.Context, id uint64) Attribution {
	p, err := r.cg.Path(id)
	if errors.Is(err, cgroup.ErrGone) {
		return Attribution{Kind: Unattributed, Reason: reasonCgroupGone}
	}
	if err != nil {
		r.log.Warn("find cgroup path", zap.Uint64(keyCgroupID, id), zap.Error(err))
		return Attribution{Kind: Unattributed, Reason: reasonLookupError}
	}
	if c := r.tbl.enclosing(p); c != nil {
		r.tbl.alias(id, c)
		return Attribution{Kind: InContainer, Container: c}
	}
	cl, nss := r.connection()
	if !looksLikeContainer(p, nss) {
		return Attribution{Kind: Host}
	}
	if cl == nil {
		// A new container while disconnected: containerd, which made it, is
		// most likely back. Reconnect now and wait for it, within ctx.
		if cl, nss = r.awaitConnection(ctx); cl == nil {
			return Attribution{Kind: Unattributed, CgroupPath: p, Reason: reasonUnavailable}
		}
	}
	var lastErr error
	for _, cand := range candidateIDs(p) {
		for _, ns := range nss {
			c, err := r.loader.load(ctx, cl, ns, cand, 0, SourceOnDemand)
			if errdefs.IsNotFound(err) {
				continue
			}
			if err != nil {
				lastErr = err
				continue
			}
			if c.CgroupID != id && !within(p, c.CgroupPath) {
				continue // a container of that name, but another cgroup
			}
			c.KnownAt = time.Now()
			stored := r.tbl.add(c)
			if stored.CgroupID != id {
				r.tbl.alias(id, stored)
			}
			return Attribution{Kind: InContainer, Container: stored}
		}
	}
	if lastErr != nil {
		r.log.Warn("resolve container cgroup on demand", zap.String(keyCgroupPath, p), zap.Error(lastErr))
		return Attribution{Kind: Unattributed, CgroupPath: p, Reason: reasonLookupError}
	}
	return Attribution{Kind: Unattributed, CgroupPath: p, Reason: reasonUnresolved}
}

// connection returns the current client (nil when disconnected) and the
// namespaces to search.
func (r *Resolver) connection() (*client.Client, []string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cl, r.nss
}

func (r *Resolver) setConnection(cl *client.Client, nss []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case cl != nil && r.cl == nil:
		close(r.up)
	case cl == nil && r.cl != nil:
		r.up = make(chan struct{})
	}
	r.cl = cl
	if nss != nil {
		r.nss = nss
	}
}

// awaitConnection asks Run to reconnect at once and waits for it until ctx
// ends; it returns a nil client if that is not soon enough.
func (r *Resolver) awaitConnection(ctx context.Context) (*client.Client, []string) {
	select {
	case r.kick <- struct{}{}:
	default:
	}
	r.mu.RLock()
	up := r.up
	r.mu.RUnlock()
	select {
	case <-up:
		return r.connection()
	case <-ctx.Done():
		return nil, nil
	}
}

// addNamespace makes a namespace first seen in an event searchable.
func (r *Resolver) addNamespace(ns string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.nss, ns) {
		r.nss = orderNamespaces(append(slices.Clone(r.nss), ns))
	}
}

// orderNamespaces sorts namespaces with k8s.io first.
func orderNamespaces(nss []string) []string {
	slices.SortFunc(nss, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == K8sNamespace:
			return -1
		case b == K8sNamespace:
			return 1
		case a < b:
			return -1
		}
		return 1
	})
	return nss
}

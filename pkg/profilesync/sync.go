package profilesync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/profilecr"
)

// Profiles is the collector's side (collector.Collector).
type Profiles interface {
	ProfileStates(ctx context.Context, digest string) ([]profilecr.State, error)
	ChangeProfile(ctx context.Context, ch profilecr.Change) (*vigilv1.Profile, bool, error)
	WatchProfiles(ctx context.Context, f func(digest string))
}

// Actor is who the audit trail names for changes made through a resource:
// the API server does not tell a controller which user wrote an object.
const Actor = "kubernetes"

// DefaultLease is the Lease the replicas elect a leader on.
const DefaultLease = "vigil-collector-profiles"

// Options configure Run.
type Options struct {
	Kube     *rest.Config
	Profiles Profiles
	// Namespace and Lease name the Lease (default DefaultLease).
	Namespace, Lease string
	// Identity is this replica's in the Lease (default host name and a
	// random suffix).
	Identity string
	// Leader election timing (defaults 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Resync is how often every profile is looked at again even when
	// nothing changed (default 1m): readiness changes with time alone.
	Resync     time.Duration
	Logger     *zap.Logger
	Registerer prometheus.Registerer
}

func (o *Options) setDefaults() error {
	if o.Kube == nil || o.Profiles == nil || o.Namespace == "" {
		return errors.New("profile sync: a Kubernetes config, the profiles and the Lease's namespace are required")
	}
	if o.Lease == "" {
		o.Lease = DefaultLease
	}
	if o.Identity == "" {
		host, _ := os.Hostname()
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		o.Identity = host + "_" + hex.EncodeToString(suffix)
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.LeaseDuration, 15 * time.Second}, {&o.RenewDeadline, 10 * time.Second}, {&o.RetryPeriod, 2 * time.Second}, {&o.Resync, time.Minute}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return nil
}

type syncer struct {
	o   Options
	log *zap.Logger
	m   *metrics
	dyn dynamic.NamespaceableResourceInterface
	// applied holds, per object, the outcome of applying a generation
	// whose status is not written yet (a conflict): the retry writes it
	// rather than applying the spec again and reporting it unchanged.
	// Only the worker goroutine of lead uses it.
	applied map[string]*profilecr.Sync
}

// Run keeps resources and profiles in step while this replica leads, and
// waits to lead otherwise, until ctx ends.
func Run(ctx context.Context, o Options) error {
	if err := o.setDefaults(); err != nil {
		return err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(o.Kube)
	if err != nil {
		return fmt.Errorf("profile sync: %w", err)
	}
	kc, err := kubernetes.NewForConfig(o.Kube)
	if err != nil {
		return fmt.Errorf("profile sync: %w", err)
	}
	s := &syncer{o: o, log: o.Logger.With(zap.String("lease", o.Namespace+"/"+o.Lease), zap.String("identity", o.Identity)), m: m, dyn: dc.Resource(profilecr.GVR)}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Lease},
			Client:     kc.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
		},
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		// A replica that stops hands the Lease over at once rather than
		// after LeaseDuration.
		ReleaseOnCancel: true,
		Name:            o.Lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				m.leader.Set(1)
				s.log.Info("leading: this collector keeps ImageProfiles in step")
				s.lead(lctx)
			},
			OnStoppedLeading: func() {
				m.leader.Set(0)
				s.log.Info("not leading ImageProfiles")
			},
		},
	})
	if err != nil {
		return fmt.Errorf("profile sync: %w", err)
	}
	for ctx.Err() == nil {
		le.Run(ctx)
	}
	return nil
}

// lead runs the controller until lctx ends (the lead is lost or Run ends).
func (s *syncer) lead(lctx context.Context) {
	s.applied = make(map[string]*profilecr.Sync)
	factory := dynamicinformer.NewDynamicSharedInformerFactory(s.dynClient(), 0)
	inf := factory.ForResource(profilecr.GVR)
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if u, ok := obj.(*unstructured.Unstructured); ok {
			q.Add(u.GetName())
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	}); err != nil {
		s.log.Error("watch ImageProfiles", zap.Error(err))
		return
	}
	factory.Start(lctx.Done())
	var wg sync.WaitGroup
	defer func() {
		q.ShutDown()
		factory.Shutdown()
		wg.Wait()
	}()
	if !cache.WaitForCacheSync(lctx.Done(), inf.Informer().HasSynced) {
		return
	}
	all := func() {
		for _, name := range inf.Informer().GetStore().ListKeys() {
			q.Add(name)
		}
		states, err := s.o.Profiles.ProfileStates(lctx, "")
		if err != nil {
			s.m.errors.Inc()
			s.log.Error("list profiles", zap.Error(err))
			return
		}
		for _, st := range states {
			s.enqueueDigest(q, st.Latest.GetImageDigest())
		}
	}
	wg.Go(func() {
		s.o.Profiles.WatchProfiles(lctx, func(digest string) {
			if digest == "" {
				all()
				return
			}
			s.enqueueDigest(q, digest)
		})
	})
	wg.Go(func() {
		t := time.NewTicker(s.o.Resync)
		defer t.Stop()
		all()
		for {
			select {
			case <-t.C:
				all()
			case <-lctx.Done():
				return
			}
		}
	})
	lister := inf.Lister()
	for {
		name, shutdown := q.Get()
		if shutdown || lctx.Err() != nil {
			q.Done(name)
			return
		}
		obj, err := lister.Get(name)
		var u *unstructured.Unstructured
		if err == nil {
			u, _ = obj.(*unstructured.Unstructured)
		} else if !apierrors.IsNotFound(err) {
			s.log.Error("read ImageProfile from the cache", zap.String("name", name), zap.Error(err))
		}
		if err := s.reconcile(lctx, name, u); err != nil {
			s.m.errors.Inc()
			// A conflict is the cache behind the object (often behind this
			// collector's own status write): the retry reads it anew.
			level := zap.WarnLevel
			if apierrors.IsConflict(err) {
				level = zap.DebugLevel
			}
			s.log.Log(level, "sync ImageProfile; retrying", zap.String("name", name), zap.Error(err))
			q.AddRateLimited(name)
		} else {
			q.Forget(name)
		}
		q.Done(name)
	}
}

func (s *syncer) dynClient() dynamic.Interface {
	dc, _ := dynamic.NewForConfig(s.o.Kube) // the config was checked by Run
	return dc
}

func (s *syncer) enqueueDigest(q workqueue.TypedRateLimitingInterface[string], digest string) {
	name, err := profilecr.NameFor(digest)
	if err != nil {
		s.m.skipped.Inc()
		s.log.Warn("profile not kept as an ImageProfile", zap.Error(err))
		return
	}
	q.Add(name)
}

// digestOf is the digest an object name stands for.
func digestOf(name string) string { return strings.Replace(name, "-", ":", 1) }

// reconcile brings one object (nil: none) and its profile in step.
func (s *syncer) reconcile(ctx context.Context, name string, obj *unstructured.Unstructured) error {
	if obj == nil {
		return s.mirror(ctx, name)
	}
	old := profilecr.StatusFrom(obj.Object)
	var result *profilecr.Sync
	if gen := obj.GetGeneration(); gen != old.ObservedGeneration {
		if p := s.applied[name]; p != nil && p.Generation == gen {
			result = p
		} else {
			var err error
			if result, err = s.apply(ctx, obj); err != nil {
				return err
			}
			s.applied[name] = result
		}
	}
	digest, _, _ := unstructured.NestedString(obj.Object, "spec", "digest")
	if digest == "" {
		digest = digestOf(name)
	}
	if err := s.writeStatus(ctx, obj, old, digest, result); err != nil {
		return err
	}
	delete(s.applied, name)
	return nil
}

// mirror creates the object of a profile that has none.
func (s *syncer) mirror(ctx context.Context, name string) error {
	states, err := s.o.Profiles.ProfileStates(ctx, digestOf(name))
	if err != nil || len(states) == 0 {
		return err
	}
	p := states[0].Latest
	obj, err := profilecr.Mirror(p.GetImage(), p.GetImageDigest(), profile.Mode(modeOf(p.GetMode())))
	if err != nil {
		return err
	}
	created, err := s.dyn.Create(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ImageProfile %s: the cache is behind: %w", name, err)
	}
	if err != nil {
		return fmt.Errorf("create ImageProfile %s: %w", name, err)
	}
	s.m.created.Inc()
	s.log.Info("created an ImageProfile for a profile that had none", zap.String("name", name))
	return s.writeStatus(ctx, created, profilecr.Status{}, p.GetImageDigest(),
		&profilecr.Sync{Generation: created.GetGeneration(), OK: true, Reason: profilecr.ReasonMirrored, Message: "created by the collector for its profile"})
}

// fieldManager names the collector in managedFields.
const fieldManager = "vigil-collector"

// apply applies obj's spec to the store. An error is one worth retrying
// (the store or the API server unreachable); a refusal is the result.
func (s *syncer) apply(ctx context.Context, obj *unstructured.Unstructured) (*profilecr.Sync, error) {
	gen := obj.GetGeneration()
	refused := func(msg string) *profilecr.Sync {
		s.m.applied.WithLabelValues("refused").Inc()
		return &profilecr.Sync{Generation: gen, Reason: profilecr.ReasonRefused, Message: msg}
	}
	d, err := profilecr.DesiredOf(obj)
	if err != nil {
		return refused(err.Error()), nil
	}
	if msg, err := s.unpromoted(ctx, obj, d); err != nil {
		return nil, err
	} else if msg != "" {
		s.m.applied.WithLabelValues("needs_promote").Inc()
		s.log.Warn("refused an ImageProfile spec that would demote a profile unseen", zap.String("name", obj.GetName()), zap.Int64("generation", gen))
		return &profilecr.Sync{Generation: gen, Reason: profilecr.ReasonNeedsPromote, Message: msg}, nil
	}
	detail := fmt.Sprintf("ImageProfile %s generation %d", obj.GetName(), gen)
	if m := specManager(obj); m != "" {
		detail += ", written by field manager " + m
	}
	p, unchanged, err := s.o.Profiles.ChangeProfile(ctx, profilecr.Change{Actor: Actor, Detail: detail, Digest: d.Digest, Mode: d.Mode,
		Document: d.Document, ExpectVersion: d.ExpectVersion, Force: d.Force})
	switch {
	case errors.Is(err, profilecr.ErrNoProfile) && d.Mode == profile.ModeLearn:
		s.m.applied.WithLabelValues("unchanged").Inc()
		return &profilecr.Sync{Generation: gen, OK: true, Reason: profilecr.ReasonWaitingForDrafts,
			Message: "no profile yet: the image learns when a node runs it"}, nil
	case errors.Is(err, profilecr.ErrNoProfile):
		return refused(fmt.Sprintf("no profile of %s yet to %s: give the allowlists in spec, or let the image learn first", d.Digest, d.Mode)), nil
	case err != nil:
		switch status.Code(err) {
		case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Canceled:
			return nil, err
		}
		return refused(status.Convert(err).Message()), nil
	case unchanged:
		s.m.applied.WithLabelValues("unchanged").Inc()
		return &profilecr.Sync{Generation: gen, OK: true, Reason: profilecr.ReasonUnchanged,
			Message: fmt.Sprintf("version %d (%s) already holds this spec", p.GetVersion(), modeOf(p.GetMode()))}, nil
	}
	s.m.applied.WithLabelValues("applied").Inc()
	s.log.Info("applied an ImageProfile", zap.String("name", obj.GetName()), zap.Int64("generation", gen), zap.Int64("version", p.GetVersion()))
	return &profilecr.Sync{Generation: gen, OK: true, Reason: profilecr.ReasonApplied,
		Message: fmt.Sprintf("applied as version %d (%s)", p.GetVersion(), modeOf(p.GetMode()))}, nil
}

// unpromoted says why a learn-mode spec must not be applied ("": it may):
// the store holds the profile in monitor or enforce mode and the object's
// status did not show it. The policy vigil-profile-promote asks for the verb
// promote from what it sees, the spec's mode and the old status.mode: on a
// create (no old object, e.g. after a delete, before this collector mirrors
// the profile) or before this collector wrote the status of a promotion made
// through vigilctl, it saw neither, so an editor's spec would demote the
// profile. The refusal's status shows the store's mode, so a new spec is then
// judged by the policy. A spec in monitor or enforce mode needed promote
// anyway.
func (s *syncer) unpromoted(ctx context.Context, obj *unstructured.Unstructured, d profilecr.Desired) (string, error) {
	if judged(string(d.Mode)) {
		return "", nil
	}
	states, err := s.o.Profiles.ProfileStates(ctx, d.Digest)
	if err != nil || len(states) == 0 || states[0].Latest == nil {
		return "", err
	}
	p := states[0].Latest
	mode := modeOf(p.GetMode())
	if !judged(mode) || judged(profilecr.StatusFrom(obj.Object).Mode) {
		return "", nil
	}
	return fmt.Sprintf("the collector's store has %s version %d in %s mode, which this object's status did not show when this spec was written, "+
		"so no one was asked for the verb promote; the status shows it now: write the spec again (e.g. spec.expectVersion: %d), which needs promote",
		d.Digest, p.GetVersion(), mode, p.GetVersion()), nil
}

// judged is whether a mode is one whose profiles only holders of the verb
// promote may change.
func judged(mode string) bool {
	return mode == string(profile.ModeMonitor) || mode == string(profile.ModeEnforce)
}

// specManager is the field manager that last wrote obj's spec, as far as
// managedFields tell.
func specManager(obj *unstructured.Unstructured) string {
	var last string
	var at time.Time
	for _, f := range obj.GetManagedFields() {
		if f.Subresource != "" || f.FieldsV1 == nil || !strings.Contains(f.FieldsV1.GetRawString(), `"f:spec"`) {
			continue
		}
		if f.Time != nil && !f.Time.Time.Before(at) {
			last, at = f.Manager, f.Time.Time
		}
	}
	return last
}

// writeStatus sets obj's status from its profile's state and result,
// when that changes it.
func (s *syncer) writeStatus(ctx context.Context, obj *unstructured.Unstructured, old profilecr.Status, digest string, result *profilecr.Sync) error {
	states, err := s.o.Profiles.ProfileStates(ctx, digest)
	if err != nil {
		return err
	}
	var st *profilecr.State
	if len(states) > 0 {
		st = &states[0]
	}
	next, err := profilecr.StatusOf(old, st, result).Unstructured()
	if err != nil {
		return err
	}
	// Compared as both sides encode it, so that a status the API server
	// returns in another shape (an empty field dropped) is not rewritten
	// on every event its own update causes.
	if cur, err := profilecr.StatusFrom(obj.Object).Unstructured(); err == nil && reflect.DeepEqual(cur, next) {
		return nil
	}
	upd := obj.DeepCopy()
	upd.Object["status"] = next
	// The update carries obj's resourceVersion: a conflict means the object
	// changed since it was read, and the next reconcile sees the change.
	if _, err := s.dyn.UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update ImageProfile %s status: %w", obj.GetName(), err)
	}
	s.m.statusUpdates.Inc()
	return nil
}

func modeOf(m vigilv1.ProfileMode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "PROFILE_MODE_"))
}

package join

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/client-go/rest"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
)

// Options configure a Server. Kube, Authority and Registerer are required.
type Options struct {
	// Kube reaches the Kubernetes API, as a ServiceAccount that may create
	// tokenreviews and get pods of Namespace.
	Kube *rest.Config
	// Audience the agents' tokens must be for (default "vigil").
	Audience string
	// Namespace and ServiceAccount of the agents' pods: a token of any
	// other account is refused.
	Namespace, ServiceAccount string
	// CertTTL is the lifetime of an issued certificate (default 1h), cut
	// to what the agent's token has left: a certificate never outlives the
	// token it was issued for.
	CertTTL time.Duration
	// MaxInFlight bounds the joins served at once, each a TokenReview and a
	// pod read on the API server (default 32); more are refused with
	// RESOURCE_EXHAUSTED and the agent retries later.
	MaxInFlight int
	// Authority signs the certificates; called per join, so that a CA the
	// collector reloaded is used at once.
	Authority func() *pki.Authority
	Logger    *zap.Logger
	// Registerer receives vigil_collector_joins_total and
	// vigil_collector_join_seconds.
	Registerer prometheus.Registerer
}

// Server serves JoinService.
type Server struct {
	vigilv1.UnimplementedJoinServiceServer
	opts     Options
	log      *zap.Logger
	rev      *reviewer
	inFlight chan struct{}
	joins    *prometheus.CounterVec
	seconds  prometheus.Histogram
}

// Log field keys.
const (
	logKeyNode   = "node"
	logKeyPod    = "pod"
	logKeyReason = "reason"
	logKeySerial = "serial"
)

// New checks o and connects the Kubernetes clients (no call is made yet).
func New(o Options) (*Server, error) {
	switch {
	case o.Kube == nil:
		return nil, errors.New("join: no Kubernetes API configuration")
	case o.Authority == nil:
		return nil, errors.New("join: no certificate authority")
	case o.Registerer == nil:
		return nil, errors.New("join: no metrics registerer")
	case o.Namespace == "" || o.ServiceAccount == "":
		return nil, errors.New("join: the agents' namespace and service account are required")
	}
	if o.Audience == "" {
		o.Audience = "vigil"
	}
	if o.CertTTL <= 0 {
		o.CertTTL = time.Hour
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 32
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	kube := rest.CopyConfig(o.Kube)
	if kube.Timeout == 0 {
		kube.Timeout = 10 * time.Second
	}
	// client-go's default of 5 requests a second (a join makes two) made
	// joins in a row wait 200 ms each; MaxInFlight bounds them instead.
	if kube.QPS == 0 {
		kube.QPS, kube.Burst = 100, 200
	}
	rev, err := newReviewer(kube, o.Audience, o.Namespace, o.ServiceAccount)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: o, log: o.Logger, rev: rev, inFlight: make(chan struct{}, o.MaxInFlight),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_collector_joins_total",
			Help: "Agent joins (certificates for ServiceAccount tokens), by result: accepted, or the reason refused.",
		}, []string{"result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_collector_join_seconds", Help: "Time to serve a join, refused ones too (TokenReview, pod read, signing).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
	}
	for _, c := range []prometheus.Collector{s.joins, s.seconds} {
		if err := o.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register join metrics: %w", err)
		}
	}
	return s, nil
}

// Join verifies the token, and signs the request for the token's pod's node.
func (s *Server) Join(ctx context.Context, req *vigilv1.JoinRequest) (*vigilv1.JoinResponse, error) {
	start := time.Now()
	defer func() { s.seconds.Observe(time.Since(start).Seconds()) }()
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		return nil, s.refused(refuse(reasonBusy, codes.ResourceExhausted, "%d joins in flight; retry later", s.opts.MaxInFlight), "")
	}
	resp, pod, err := s.join(ctx, req)
	if err != nil {
		return nil, s.refused(err, pod)
	}
	s.joins.WithLabelValues("accepted").Inc()
	return resp, nil
}

func (s *Server) join(ctx context.Context, req *vigilv1.JoinRequest) (*vigilv1.JoinResponse, string, error) {
	token := req.GetServiceAccountToken()
	if token == "" || len(token) > maxTokenBytes {
		return nil, "", refuse(reasonBadRequest, codes.InvalidArgument, "service account token of %d bytes (want 1 to %d)", len(token), maxTokenBytes)
	}
	pub, err := requestKey(req.GetCsrDer())
	if err != nil {
		return nil, "", err
	}
	node, pod, err := s.rev.node(ctx, token)
	if err != nil {
		return nil, pod, err
	}
	exp, err := tokenExpiry(token)
	if err != nil {
		return nil, pod, err
	}
	now := time.Now()
	validFor, err := certLifetime(s.opts.CertTTL, now, exp)
	if err != nil {
		return nil, pod, err
	}
	ca := s.opts.Authority()
	// NotBefore a minute back for clocks behind ours, as pki does by
	// default; NotAfter exactly validFor from now, so never past exp.
	der, err := ca.Sign(pki.Request{CommonName: node, Role: pki.RoleAgent,
		NotBefore: now.Add(-time.Minute), ValidFor: validFor + time.Minute}, pub)
	if err != nil {
		return nil, pod, refuse(reasonSignError, codes.Internal, "sign: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, pod, refuse(reasonSignError, codes.Internal, "parse the signed certificate: %v", err)
	}
	s.log.Info("agent joined", zap.String(logKeyNode, node), zap.String(logKeyPod, pod),
		zap.String(logKeySerial, cert.SerialNumber.Text(16)), zap.Time("not_after", cert.NotAfter))
	return &vigilv1.JoinResponse{CertificateDer: der, IssuerDer: ca.Cert.Raw, NotAfter: timestamppb.New(cert.NotAfter), Node: node}, pod, nil
}

func (s *Server) refused(err error, pod string) error {
	var r *refusal
	if !errors.As(err, &r) {
		r = refuse(reasonSignError, codes.Internal, "%v", err)
	}
	s.joins.WithLabelValues(r.reason).Inc()
	s.log.Warn("join refused", zap.String(logKeyReason, r.reason), zap.String(logKeyPod, pod), zap.String("error", r.msg))
	return status.Error(r.code, r.msg)
}

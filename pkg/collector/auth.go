package collector

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
)

type identityKey struct{}

// identityFrom returns the caller authorised by the interceptors.
func identityFrom(ctx context.Context) pki.Identity {
	id, _ := ctx.Value(identityKey{}).(pki.Identity)
	return id
}

// roleFor says which role may call a method: the agent API is for agents,
// the consumer API for consumers, nothing else is served.
func roleFor(fullMethod string) (pki.Role, bool) {
	service, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	switch service {
	case vigilv1.AgentService_ServiceDesc.ServiceName:
		return pki.RoleAgent, true
	case vigilv1.ConsumerService_ServiceDesc.ServiceName:
		return pki.RoleConsumer, true
	}
	return "", false
}

// authorize reads the caller's identity from its verified certificate and
// checks its role against the method.
func (c *Collector) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, c.deny("no_peer", codes.Unauthenticated, "no peer information")
	}
	id, cert, reason, err := certIdentity(p.AuthInfo)
	if err != nil {
		return nil, c.deny(reason, codes.Unauthenticated, err.Error())
	}
	want, ok := roleFor(fullMethod)
	if !ok {
		return nil, c.deny("unknown_method", codes.PermissionDenied, "method "+fullMethod+" is not served")
	}
	if id.Role != want {
		return nil, c.deny("wrong_role", codes.PermissionDenied,
			string(id.Role)+" "+id.Name+" may not call "+fullMethod+" (needs a "+string(want)+" certificate)")
	}
	c.certSeen(ctx, id, cert)
	return context.WithValue(ctx, identityKey{}, id), nil
}

// certIdentity reads the identity from a connection's verified client
// certificate; on failure, reason is the label it is counted under.
func certIdentity(auth credentials.AuthInfo) (id pki.Identity, cert *x509.Certificate, reason string, err error) {
	info, ok := auth.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return id, nil, "no_certificate", errors.New("a verified client certificate is required")
	}
	cert = info.State.VerifiedChains[0][0]
	if id, err = pki.IdentityOf(cert); err != nil {
		return id, nil, "bad_identity", err
	}
	return id, cert, "", nil
}

func (c *Collector) deny(reason string, code codes.Code, msg string) error {
	c.m.denied.WithLabelValues(reason).Inc()
	return status.Error(code, msg)
}

// isJoin says whether a call is a join, which needs no certificate: the
// join server authenticates its caller by the token in the request, and
// bounds the joins it serves at once.
func (c *Collector) isJoin(fullMethod string) bool {
	return c.opts.Join != nil && strings.HasPrefix(fullMethod, "/"+vigilv1.JoinService_ServiceDesc.ServiceName+"/")
}

func (c *Collector) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if c.isJoin(info.FullMethod) {
		return handler(ctx, req)
	}
	ctx, err := c.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if err := c.limits.call(identityFrom(ctx)); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (c *Collector) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := c.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	id := identityFrom(ctx)
	if err := c.limits.call(id); err != nil {
		return err
	}
	if err := c.limits.openStream(id); err != nil {
		return err
	}
	defer c.limits.closeStream(id)
	return handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

// authedStream carries the caller's identity in its context.
type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }

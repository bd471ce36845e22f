package certwatch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// KeyPair parses a certificate (chain) and its key, as ServerTLS serves them.
func KeyPair(contents [][]byte) (*tls.Certificate, error) {
	if len(contents) != 2 {
		return nil, errors.New("a key pair is a certificate file and a key file")
	}
	kp, err := tls.X509KeyPair(contents[0], contents[1])
	if err != nil {
		return nil, err
	}
	return &kp, nil
}

// Pool parses a bundle of PEM CA certificates.
func Pool(contents [][]byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, c := range contents {
		if !pool.AppendCertsFromPEM(c) {
			return nil, errors.New("no PEM certificate")
		}
	}
	return pool, nil
}

// ServerTLS is the collector's TLS configuration, read at each handshake
// from the current serving certificate and client CA bundle (files being
// watched, or a certificate the collector renews itself): TLS 1.3, and a
// client certificate verified against the bundle (clientAuth: required, or
// verified if given when some calls need none). Connections keep the
// certificate they were made with.
func ServerTLS(cert func() *tls.Certificate, clientCAs func() *x509.CertPool, clientAuth tls.ClientAuthType) *tls.Config {
	current := func() *tls.Config {
		return &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{*cert()},
			ClientAuth:   clientAuth,
			ClientCAs:    clientCAs(),
		}
	}
	cfg := current()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return current(), nil }
	return cfg
}

// ClientTLS is a client's TLS configuration that verifies the server
// against the current CA bundle at each handshake (roots changes while the
// client runs) and presents the certificate getCert returns.
func ClientTLS(getCert func(context.Context) (*tls.Certificate, error), roots func() *x509.CertPool, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return getCert(cri.Context())
		},
		// The standard verification with a fixed RootCAs is replaced by the
		// same verification against the current bundle: VerifyConnection
		// runs it on every handshake, resumed ones too.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs, roots())
		},
	}
}

func verifyServer(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server presented no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("verify server certificate: %w", err)
	}
	return nil
}

package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ServerTLS is the collector's TLS configuration: TLS 1.3, and a client
// certificate signed by one of clientCAs is required.
func ServerTLS(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
}

// ClientTLS is an agent's or consumer's TLS configuration: the server must
// present a certificate signed by one of roots for serverName (empty:
// the host of the address dialled).
func ClientTLS(cert tls.Certificate, roots *x509.CertPool, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ServerName:   serverName,
	}
}

// ServerTLSFiles loads ServerTLS from PEM files.
func ServerTLSFiles(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, pool, err := loadFiles(certFile, keyFile, clientCAFile)
	if err != nil {
		return nil, err
	}
	return ServerTLS(cert, pool), nil
}

// ClientTLSFiles loads ClientTLS from PEM files.
func ClientTLSFiles(certFile, keyFile, caFile, serverName string) (*tls.Config, error) {
	cert, pool, err := loadFiles(certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	return ClientTLS(cert, pool, serverName), nil
}

func loadFiles(certFile, keyFile, caFile string) (tls.Certificate, *x509.CertPool, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return tls.Certificate{}, nil, errors.New("TLS needs a certificate, its key and a CA certificate file (make them with: vigilctl certs)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("load key pair %s, %s: %w", certFile, keyFile, err)
	}
	pool, err := LoadPool(caFile)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return cert, pool, nil
}

// LoadPool reads PEM CA certificates into a pool.
func LoadPool(caFile string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// Pool is a pool holding the authority's certificate.
func (a *Authority) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(a.Cert)
	return pool
}

// KeyPair parses an issued certificate for use in a tls.Config.
func (i Issued) KeyPair() (tls.Certificate, error) {
	cert, err := tls.X509KeyPair(i.CertPEM, i.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse issued key pair: %w", err)
	}
	return cert, nil
}

// LoadAuthority reads a CA certificate and its private key from PEM files
// (as WriteSetup writes them), to issue more certificates.
func LoadAuthority(certFile, keyFile string) (*Authority, error) {
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", certFile, err)
	}
	cert, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse CA %s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	signer, ok := kp.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key %s cannot sign", keyFile)
	}
	return &Authority{Cert: cert, Key: signer}, nil
}

// ParseAuthority reads a CA from a PEM bundle and a PEM private key: the
// bundle's certificate for that key (a bundle that trusts an old and a new
// CA while one rotates holds both).
func ParseAuthority(bundlePEM, keyPEM []byte) (*Authority, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("CA key: no PEM block")
	}
	key, err := parsePrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, errors.New("CA key: unsupported key type")
	}
	for rest := bundlePEM; ; {
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no CA certificate in the bundle matches the CA key")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse CA certificate: %w", err)
		}
		if pub.Equal(cert.PublicKey) {
			if !cert.IsCA {
				return nil, fmt.Errorf("certificate %q for the CA key is not a CA certificate", cert.Subject.CommonName)
			}
			return &Authority{Cert: cert, Key: key}, nil
		}
	}
}

func parsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("key cannot sign")
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS #8, EC or PKCS #1 private key")
}

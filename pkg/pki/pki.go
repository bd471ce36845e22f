package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Role is what a client certificate allows.
type Role string

const (
	// RoleAgent is a node agent.
	RoleAgent Role = "vigil-agent"
	// RoleConsumer is an operator or a tool reading alerts and managing profiles.
	RoleConsumer Role = "vigil-consumer"
)

// Identity is who a verified client certificate names.
type Identity struct {
	Name string
	Role Role
}

// IdentityOf reads the identity from a verified client certificate.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	name := cert.Subject.CommonName
	if name == "" {
		return Identity{}, errors.New("client certificate has no common name")
	}
	var roles []Role
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r := Role(ou); r == RoleAgent || r == RoleConsumer {
			roles = append(roles, r)
		}
	}
	if len(roles) != 1 {
		return Identity{}, fmt.Errorf("client certificate %q must have exactly one role (OU %s or %s), has %d", name, RoleAgent, RoleConsumer, len(roles))
	}
	return Identity{Name: name, Role: roles[0]}, nil
}

// Authority is a certificate authority that can issue certificates.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewAuthority makes a self-signed CA valid from now for the given duration.
func NewAuthority(name string, validFor time.Duration) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"vigil"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// CertPEM is the authority's certificate in PEM.
func (a *Authority) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw})
}

// KeyPEM is the authority's private key in PEM (PKCS #8).
func (a *Authority) KeyPEM() ([]byte, error) {
	return keyPEM(a.Key)
}

// Request describes a certificate to issue.
type Request struct {
	// CommonName is the client's name (a node name for agents) or the server's.
	CommonName string
	// Role is set for client certificates, empty for server certificates.
	Role Role
	// Server certificates: names and addresses the server is reached by.
	DNSNames    []string
	IPAddresses []net.IP
	// Validity; a zero NotBefore means from now (and a minute back).
	NotBefore time.Time
	ValidFor  time.Duration
}

// Issued is a certificate and its private key, in PEM.
type Issued struct {
	CertPEM, KeyPEM []byte
}

// Issue signs a new key pair. Requests with a Role get a client certificate,
// requests without one a server certificate.
func (a *Authority) Issue(r Request) (Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, fmt.Errorf("generate key: %w", err)
	}
	der, err := a.Sign(r, key.Public())
	if err != nil {
		return Issued{}, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: kp}, nil
}

// Sign makes the certificate r describes for a key the caller holds (a
// joining agent's, which never leaves it) and returns it in DER.
func (a *Authority) Sign(r Request, pub crypto.PublicKey) ([]byte, error) {
	if r.CommonName == "" {
		return nil, errors.New("issue certificate: empty common name")
	}
	if r.ValidFor <= 0 {
		return nil, errors.New("issue certificate: validity must be positive")
	}
	// Valid from a minute back, for clocks a little behind, and for
	// ValidFor from now.
	notBefore, notAfter := r.NotBefore, r.NotBefore.Add(r.ValidFor)
	if notBefore.IsZero() {
		now := time.Now()
		notBefore, notAfter = now.Add(-time.Minute), now.Add(r.ValidFor)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: r.CommonName, Organization: []string{"vigil"}},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		DNSNames:    r.DNSNames,
		IPAddresses: r.IPAddresses,
	}
	if r.Role != "" {
		tmpl.Subject.OrganizationalUnit = []string{string(r.Role)}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := sign(tmpl, a.Cert, pub, a.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %q: %w", r.CommonName, err)
	}
	return der, nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

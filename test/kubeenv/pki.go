package kubeenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-dev/vigil/pkg/pki"
)

// validFor outlives any test run.
const validFor = 24 * time.Hour

// files are the credentials the API server and its admin client use.
type files struct {
	ca, serverCert, serverKey string
	adminCert, adminKey       string
	// The ServiceAccount token signing key pair.
	saKey, saPub string
}

// writePKI makes a CA, the API server's serving certificate, an admin
// client certificate in group system:masters (the API server's superuser
// group, which RBAC lets do anything) and a ServiceAccount signing key.
func writePKI(dir string) (files, error) {
	f := files{
		ca:         filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "apiserver.pem"),
		serverKey:  filepath.Join(dir, "apiserver-key.pem"),
		adminCert:  filepath.Join(dir, "admin.pem"),
		adminKey:   filepath.Join(dir, "admin-key.pem"),
		saKey:      filepath.Join(dir, "sa-key.pem"),
		saPub:      filepath.Join(dir, "sa.pub"),
	}
	ca, err := pki.NewAuthority("kubeenv CA", validFor)
	if err != nil {
		return files{}, err
	}
	server, err := ca.Issue(pki.Request{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		// 10.96.0.1: the kubernetes Service's address in serviceCIDR.
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)},
		ValidFor:    validFor,
	})
	if err != nil {
		return files{}, err
	}
	adminCert, adminKey, err := issueClient(ca, "kubeenv-admin", "system:masters")
	if err != nil {
		return files{}, err
	}
	saKey, saPub, err := signingKey()
	if err != nil {
		return files{}, err
	}
	for _, w := range []struct {
		path string
		data []byte
	}{
		{f.ca, ca.CertPEM()}, {f.serverCert, server.CertPEM}, {f.serverKey, server.KeyPEM},
		{f.adminCert, adminCert}, {f.adminKey, adminKey}, {f.saKey, saKey}, {f.saPub, saPub},
	} {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return files{}, fmt.Errorf("write %s: %w", w.path, err)
		}
	}
	return f, nil
}

// issueClient signs a client certificate the way the API server reads one:
// the common name is the user, each organization a group. pki.Issue puts
// its own organization in, so it cannot name the group.
func issueClient(ca *pki.Authority, user string, groups ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate client key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, fmt.Errorf("serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: user, Organization: groups},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign client certificate %q: %w", user, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal client key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// signingKey makes the key pair the API server signs ServiceAccount tokens
// with (ES256) and verifies them by.
func signingKey() (keyPEM, pubPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate signing key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("marshal signing public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// writeKubeconfig writes an admin kubeconfig for the server at url.
func writeKubeconfig(path, url string, f files) error {
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubeenv
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: kubeenv
  context:
    cluster: kubeenv
    user: admin
current-context: kubeenv
`, url, f.ca, f.adminCert, f.adminKey)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

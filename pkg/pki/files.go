package pki

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// SetupFiles names the files WriteSetup creates in a directory.
const (
	CAFile         = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server-key.pem"
)

// ClientFiles names a client's certificate and key files in a setup directory.
func ClientFiles(name string) (cert, key string) {
	return name + ".pem", name + "-key.pem"
}

// Setup describes a test or small deployment: one CA, a server certificate,
// agent certificates per node and consumer certificates.
type Setup struct {
	// ServerNames are the DNS names and IP addresses clients reach the
	// collector by.
	ServerNames []string
	Nodes       []string
	Consumers   []string
	ValidFor    time.Duration
}

// WriteSetup makes a CA and the certificates s describes and writes them to
// dir (keys mode 0600). It refuses to overwrite an existing CA.
func WriteSetup(dir string, s Setup) ([]string, error) {
	seen := map[string]bool{"ca": true, "ca-key": true, "server": true, "server-key": true}
	for _, name := range append(append([]string{}, s.Nodes...), s.Consumers...) {
		if name == "" || filepath.Base(name) != name || seen[name] {
			return nil, fmt.Errorf("client name %q is empty, a path, or used twice", name)
		}
		seen[name] = true
	}
	if _, err := os.Stat(filepath.Join(dir, CAFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a CA; use another directory or remove it", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	ca, err := NewAuthority("vigil CA", s.ValidFor)
	if err != nil {
		return nil, err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	var written []string
	write := func(name string, data []byte, mode os.FileMode) error {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, mode); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		written = append(written, path)
		return nil
	}
	if err := write(CAFile, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	if err := write(CAKeyFile, caKey, 0o600); err != nil {
		return nil, err
	}
	server := Request{CommonName: "vigil-collector", ValidFor: s.ValidFor}
	for _, n := range s.ServerNames {
		if ip := net.ParseIP(n); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, n)
		}
	}
	issue := func(r Request, certName, keyName string) error {
		is, err := ca.Issue(r)
		if err != nil {
			return err
		}
		if err := write(certName, is.CertPEM, 0o644); err != nil {
			return err
		}
		return write(keyName, is.KeyPEM, 0o600)
	}
	if err := issue(server, ServerCertFile, ServerKeyFile); err != nil {
		return nil, err
	}
	for _, list := range []struct {
		names []string
		role  Role
	}{{s.Nodes, RoleAgent}, {s.Consumers, RoleConsumer}} {
		for _, name := range list.names {
			cert, key := ClientFiles(name)
			if err := issue(Request{CommonName: name, Role: list.role, ValidFor: s.ValidFor}, cert, key); err != nil {
				return nil, err
			}
		}
	}
	return written, nil
}

package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteSetupHandshake(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteSetup(dir, Setup{
		ServerNames: []string{"localhost", "127.0.0.1"},
		Nodes:       []string{"node-a"},
		Consumers:   []string{"alice"},
		ValidFor:    time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 8 {
		t.Fatalf("wrote %d files, want 8: %v", len(files), files)
	}
	serverTLS, err := ServerTLSFiles(filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile), filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Identity{"node-a": {"node-a", RoleAgent}, "alice": {"alice", RoleConsumer}} {
		cert, key := ClientFiles(name)
		clientTLS, err := ClientTLSFiles(filepath.Join(dir, cert), filepath.Join(dir, key), filepath.Join(dir, CAFile), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := handshake(t, serverTLS, clientTLS); got != want {
			t.Errorf("server saw %+v, want %+v", got, want)
		}
	}
	if _, err := WriteSetup(dir, Setup{ValidFor: time.Hour}); err == nil {
		t.Fatal("WriteSetup overwrote an existing CA")
	}
}

// handshake connects over loopback TCP and returns the identity the server
// read from the client certificate.
func handshake(t *testing.T, server, client *tls.Config) Identity {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan any, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- err
			return
		}
		id, err := IdentityOf(tc.ConnectionState().VerifiedChains[0][0])
		if err != nil {
			got <- err
			return
		}
		got <- id
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", l.Addr().String(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0}) // TLS 1.3 servers verify the client after the client's first flight
	select {
	case v := <-got:
		if err, ok := v.(error); ok {
			t.Fatal(err)
		}
		return v.(Identity)
	case <-time.After(10 * time.Second):
		t.Fatal("handshake timed out")
	}
	return Identity{}
}

func TestIdentityNeedsExactlyOneRole(t *testing.T) {
	ca, err := NewAuthority("ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ous     []string
		cn      string
		wantErr bool
	}{
		{[]string{"vigil-agent"}, "n1", false},
		{nil, "n1", true},
		{[]string{"vigil-agent", "vigil-consumer"}, "n1", true},
		{[]string{"vigil-agent"}, "", true},
	} {
		cert := &x509.Certificate{}
		cert.Subject.CommonName, cert.Subject.OrganizationalUnit = tc.cn, tc.ous
		_, err := IdentityOf(cert)
		if (err != nil) != tc.wantErr {
			t.Errorf("OU %v CN %q: err = %v, want error %v", tc.ous, tc.cn, err, tc.wantErr)
		}
	}
	if _, err := ca.Issue(Request{CommonName: "x"}); err == nil {
		t.Error("issued a certificate without validity")
	}
}

func TestWriteSetupRejectsClashingNames(t *testing.T) {
	for _, s := range []Setup{
		{Nodes: []string{"a"}, Consumers: []string{"a"}},
		{Nodes: []string{"server"}},
		{Nodes: []string{"../x"}},
	} {
		s.ValidFor = time.Hour
		if _, err := WriteSetup(t.TempDir(), s); err == nil {
			t.Errorf("setup %+v accepted", s)
		}
	}
}

func TestLoadErrorsSayWhatToDo(t *testing.T) {
	_, err := ServerTLSFiles("", "", "")
	if err == nil {
		t.Fatal("no error for missing files")
	}
	_, err = LoadPool(filepath.Join(t.TempDir(), "missing.pem"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing CA file: %v", err)
	}
}

func TestParseAuthorityFromBundle(t *testing.T) {
	old, err := NewAuthority("old CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := NewAuthority("new CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := cur.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(old.CertPEM(), cur.CertPEM()...)
	a, err := ParseAuthority(bundle, key)
	if err != nil {
		t.Fatal(err)
	}
	if a.Cert.Subject.CommonName != "new CA" {
		t.Fatalf("picked %q, want the CA of the key", a.Cert.Subject.CommonName)
	}
	if _, err := ParseAuthority(old.CertPEM(), key); err == nil {
		t.Fatal("a bundle without the key's CA was accepted")
	}
	leaf, err := cur.Issue(Request{CommonName: "n1", Role: RoleAgent, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseAuthority(leaf.CertPEM, leaf.KeyPEM); err == nil {
		t.Fatal("a client certificate was accepted as a CA")
	}
}

package join

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
)

func csrOf(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRequestKeyLimits(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	good := csrOf(t, p256)
	tampered := append([]byte{}, good...)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	for _, tc := range []struct {
		name string
		der  []byte
		ok   bool
	}{
		{"p256", good, true},
		{"ed25519", csrOf(t, ed), true},
		{"p224", csrOf(t, p224), false},
		{"rsa1024", csrOf(t, rsa1024), false},
		{"tampered signature", tampered, false},
		{"garbage", []byte("not a certificate request"), false},
		{"empty", nil, false},
		{"huge", make([]byte, maxCSRBytes+1), false},
	} {
		_, err := requestKey(tc.der)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
		}
		var r *refusal
		if err != nil && (!errors.As(err, &r) || r.reason != reasonBadRequest) {
			t.Errorf("%s: refused as %v, want %s", tc.name, err, reasonBadRequest)
		}
	}
}

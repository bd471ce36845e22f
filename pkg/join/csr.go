package join

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"

	"google.golang.org/grpc/codes"
)

// maxCSRBytes bounds a certificate request: a P-256 one is about 250 bytes,
// an RSA 4096 one about 1 100.
const maxCSRBytes = 8 << 10

// maxTokenBytes bounds a token: a projected ServiceAccount token is about
// 1 000 bytes.
const maxTokenBytes = 16 << 10

// requestKey checks a certificate request (well formed, signed by its key,
// a key type and size vigil accepts) and returns its public key.
func requestKey(der []byte) (crypto.PublicKey, error) {
	if len(der) == 0 || len(der) > maxCSRBytes {
		return nil, refuse(reasonBadRequest, codes.InvalidArgument, "certificate request of %d bytes (want 1 to %d)", len(der), maxCSRBytes)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, refuse(reasonBadRequest, codes.InvalidArgument, "parse certificate request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refuse(reasonBadRequest, codes.InvalidArgument, "certificate request not signed by its key: %v", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, refuse(reasonBadRequest, codes.InvalidArgument, "ECDSA key on %s (want P-256 or P-384)", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 || bits > 4096 {
			return nil, refuse(reasonBadRequest, codes.InvalidArgument, "RSA key of %d bits (want 2048 to 4096)", bits)
		}
	case ed25519.PublicKey:
	default:
		return nil, refuse(reasonBadRequest, codes.InvalidArgument, "key of type %T (want ECDSA, RSA or Ed25519)", k)
	}
	return csr.PublicKey, nil
}

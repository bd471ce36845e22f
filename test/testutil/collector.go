package testutil

import (
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
)

// ConsumerClient connects to a collector at addr as the admin of the test
// PKI in certs (pki.WriteSetup), until the test ends.
func ConsumerClient(tb testing.TB, certs, addr string) vigilv1.ConsumerServiceClient {
	tb.Helper()
	cert, key := pki.ClientFiles("admin")
	tlsConfig, err := pki.ClientTLSFiles(filepath.Join(certs, cert), filepath.Join(certs, key), filepath.Join(certs, pki.CAFile), "localhost")
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return vigilv1.NewConsumerServiceClient(conn)
}

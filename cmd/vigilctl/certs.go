package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/pkg/pki"
)

func newCertsCmd() *cobra.Command {
	hostname, _ := os.Hostname()
	s := pki.Setup{}
	dir := defaultCertDir()
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make a CA, a collector certificate and client certificates for a test setup",
		Long: `Make a CA, a collector (server) certificate and client certificates in a
directory. Agent certificates carry the node name as their common name and the
role vigil-agent; consumer certificates (for vigilctl) the role vigil-consumer.
The collector takes the node name from the certificate, so issue one agent
certificate per node.

For production, issue the same kind of certificates from your own PKI
(cert-manager, Vault): client certificates need the common name and the role
in the OrganizationalUnit.`,
		Example: `  # A CA and certificates for this host (the collector, its agent, vigilctl)
  vigilctl certs
  # For a cluster: one agent certificate per node, the collector by its service name
  vigilctl certs --dir ./certs --node node-1,node-2 --server-name collector.vigil.svc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := pki.WriteSetup(dir, s)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			cert, key := pki.ClientFiles("NODE")
			fmt.Fprintf(cmd.ErrOrStderr(), `
collector: vigil-collector --tls-cert %[1]s --tls-key %[2]s --client-ca %[3]s
agent:     certificate %[4]s, key %[5]s, CA %[3]s (NODE = the node name)
vigilctl:  uses %[6]s and %[7]s from here by default
`, filepath.Join(dir, pki.ServerCertFile), filepath.Join(dir, pki.ServerKeyFile), filepath.Join(dir, pki.CAFile),
				filepath.Join(dir, cert), filepath.Join(dir, key),
				filepath.Join(dir, "admin.pem"), filepath.Join(dir, "admin-key.pem"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", dir, "directory to write to (must not hold a CA yet)")
	f.StringSliceVar(&s.ServerNames, "server-name", []string{"localhost", "127.0.0.1", hostname}, "DNS names and IPs agents and vigilctl reach the collector by")
	f.StringSliceVar(&s.Nodes, "node", []string{hostname}, "node names to make agent certificates for")
	f.StringSliceVar(&s.Consumers, "consumer", []string{"admin"}, "names to make consumer (vigilctl) certificates for")
	f.DurationVar(&s.ValidFor, "valid-for", 365*24*time.Hour, "validity of every certificate")
	return cmd
}

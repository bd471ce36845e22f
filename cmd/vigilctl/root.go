package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/buildinfo"
	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/pki"
)

const envPrefix = "VIGILCTL"

// options are the settings every command shares.
type options struct {
	config     string
	server     string
	serverName string
	ca         string
	cert       string
	key        string
	timeout    time.Duration
	output     string
	format     cliout.Format // output parsed: "" for text
	printer    *cliout.Printer
	color      string
	out        io.Writer
	isTerminal bool
}

// defaultCertDir is where `vigilctl certs` writes and the client looks.
func defaultCertDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "certs"
	}
	return filepath.Join(dir, "vigil", "certs")
}

func defaultConfigFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "vigil", "vigilctl.yaml")
}

func newRootCmd() *cobra.Command {
	o := &options{out: os.Stdout, isTerminal: cliout.IsTerminal(os.Stdout)}
	certs := defaultCertDir()
	cmd := &cobra.Command{
		Use:   "vigilctl",
		Short: "Operate vigil: alerts, nodes, container posture, profiles, the audit trail, certificates",
		Example: `  # A test setup: certificates (once), then the collector's alerts, live
  vigilctl certs
  vigilctl alerts tail
  # Nodes, and the last change of a profile
  vigilctl nodes
  vigilctl profiles diff nginx:1.27
  # Another collector, for one command
  vigilctl nodes --server collector.example.com:7443`,
		Version:       buildinfo.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			return o.load(cmd.Flags())
		},
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.config, "config", "", "config file (default "+defaultConfigFile()+")")
	f.StringVar(&o.server, "server", "localhost:7443", "collector address (host:port)")
	f.StringVar(&o.serverName, "server-name", "", "name in the collector's certificate, when it differs from the address host")
	f.StringVar(&o.ca, "ca", filepath.Join(certs, pki.CAFile), "CA certificate that signed the collector's certificate")
	f.StringVar(&o.cert, "cert", filepath.Join(certs, "admin.pem"), "your client certificate (consumer role)")
	f.StringVar(&o.key, "key", filepath.Join(certs, "admin-key.pem"), "your client certificate's key")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "time limit of a request (not of tail)")
	f.StringVarP(&o.output, "output", "o", humanFormat, "output format: text, json (one object per line) or yaml (one document each)")
	f.StringVar(&o.color, "color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always or never")
	cliflags.AnnotateEnv(f, envPrefix)
	cliout.CompleteFlags(cmd, map[string]cobra.CompletionFunc{
		"output": cliout.Fixed(humanFormat, string(cliout.JSON), string(cliout.YAML)), "color": cliout.Fixed("auto", "always", "never"),
	})
	cmd.AddCommand(newAlertsCmd(o), newNodesCmd(o), newPostureCmd(o), newProfilesCmd(o), newAuditCmd(o), newCertsCmd())
	return cmd
}

// load fills flags not given from the environment, then from the config file.
func (o *options) load(fs *pflag.FlagSet) error {
	if err := cliflags.BindEnv(fs, envPrefix); err != nil {
		return err
	}
	if err := o.loadFile(fs); err != nil {
		return err
	}
	var err error
	if o.format, err = cliout.ParseFormat(o.output, humanFormat); err != nil {
		return err
	}
	if o.color != "auto" && o.color != "always" && o.color != "never" {
		return fmt.Errorf("color %q: want auto, always or never", o.color)
	}
	return nil
}

func (o *options) loadFile(fs *pflag.FlagSet) error {
	path, explicit := o.config, o.config != ""
	if !explicit {
		path = defaultConfigFile()
	}
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var values map[string]string
	if err := yaml.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("config file %s: %w (want flat key: value lines named like the flags)", path, err)
	}
	for key, value := range values {
		fl := fs.Lookup(key)
		if fl == nil || key == "config" {
			return fmt.Errorf("config file %s: unknown key %q", path, key)
		}
		if fl.Changed {
			continue
		}
		if err := fs.Set(key, value); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, key, err)
		}
	}
	return nil
}

// dial connects to the collector's consumer API.
func (o *options) dial() (vigilv1.ConsumerServiceClient, func(), error) {
	tlsConfig, err := pki.ClientTLSFiles(o.cert, o.key, o.ca, o.serverName)
	if err != nil {
		return nil, nil, fmt.Errorf("%w\n(set --cert, --key and --ca, VIGILCTL_CERT…, or the config file; make a test setup with: vigilctl certs)", err)
	}
	conn, err := grpc.NewClient(o.server, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		return nil, nil, fmt.Errorf("collector address %q: %w", o.server, err)
	}
	return vigilv1.NewConsumerServiceClient(conn), func() { conn.Close() }, nil
}

func (o *options) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.timeout)
}

// explain turns a gRPC error into one that says what to do.
func (o *options) explain(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		return fmt.Errorf("cannot reach the collector at %s: %s\n(is vigil-collector running there? set --server or VIGILCTL_SERVER; a TLS error means the certificates do not match the collector's CA)", o.server, st.Message())
	case codes.PermissionDenied:
		return fmt.Errorf("refused: %s\n(vigilctl needs a certificate with the consumer role: vigilctl certs --consumer NAME)", st.Message())
	case codes.Unauthenticated:
		return fmt.Errorf("not authenticated: %s", st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("no answer from %s within %s (raise --timeout)", o.server, o.timeout)
	case codes.NotFound, codes.InvalidArgument, codes.FailedPrecondition, codes.Unimplemented:
		return errors.New(st.Message())
	}
	return err
}

// call runs one unary request.
func (o *options) call(cmd *cobra.Command, fn func(context.Context, vigilv1.ConsumerServiceClient) error) error {
	client, closeConn, err := o.dial()
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := o.requestContext(cmd.Context())
	defer cancel()
	if err := fn(ctx, client); err != nil {
		return o.explain(err)
	}
	return nil
}

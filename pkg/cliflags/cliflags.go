// Package cliflags gives vigil's commands their configuration order:
// command-line flags first, then environment variables, then defaults.
package cliflags

import (
	"fmt"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// EnvName is the variable that sets a flag: PREFIX_FLAG_NAME, upper case,
// dashes as underscores (--http-listen with prefix VIGIL_COLLECTOR is
// VIGIL_COLLECTOR_HTTP_LISTEN).
func EnvName(prefix, flag string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// BindEnv sets every flag not given on the command line from its
// environment variable, if that is set.
func BindEnv(fs *pflag.FlagSet, prefix string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		if v, ok := os.LookupEnv(EnvName(prefix, f.Name)); ok {
			if setErr := fs.Set(f.Name, v); setErr != nil {
				err = fmt.Errorf("environment variable %s: %w", EnvName(prefix, f.Name), setErr)
			}
		}
	})
	return err
}

// AnnotateEnv appends each flag's environment variable to its usage text.
func AnnotateEnv(fs *pflag.FlagSet, prefix string) {
	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += " [$" + EnvName(prefix, f.Name) + "]"
	})
}

// LogFlags are the logging settings every vigil command has.
type LogFlags struct {
	Level, Format string
	sampled       *prometheus.CounterVec
}

// Register adds --log-level (default info) and --log-format (default
// defaultFormat) to fs.
func (l *LogFlags) Register(fs *pflag.FlagSet, defaultFormat string) {
	fs.StringVar(&l.Level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&l.Format, "log-format", defaultFormat, "log format on stderr: json or console")
}

// Logger builds the logger the flags ask for.
func (l *LogFlags) Logger() (*zap.Logger, error) {
	return NewLogger(l.Level, l.Format, l.Sampled())
}

// Sampled counts the log lines the logger's sampling dropped, for the
// command's metrics registry.
func (l *LogFlags) Sampled() *prometheus.CounterVec {
	if l.sampled == nil {
		l.sampled = NewSampledCounter()
	}
	return l.sampled
}

// NewLogger builds a zap logger writing JSON (or console text) to stderr.
// JSON lines are sampled (see sampleExceptAlerts), each line dropped counted
// in sampled; alert lines never are. Console logs are for a person at a
// terminal and are not sampled.
func NewLogger(level, format string, sampled *prometheus.CounterVec) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	var opts []zap.Option
	switch format {
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
		cfg.DisableStacktrace = true // a warning is not a crash
	case "json":
		cfg.Sampling = nil
		opts = append(opts, zap.WrapCore(func(c zapcore.Core) zapcore.Core { return sampleExceptAlerts(c, sampled) }))
	default:
		return nil, fmt.Errorf("log format %q: want json or console", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build(opts...)
}

package agent

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/vigil-dev/vigil/pkg/profile"
)

func TestRunFlagsResolveModes(t *testing.T) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	r := NewRunFlags("node-1")
	r.Register(fs)
	if err := fs.Parse([]string{"--default-mode=monitor", "--namespace-mode=shop=enforce", "--image-mode=nginx:1.27=learn"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := r.AgentConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node != "node-1" || cfg.Modes.Default != profile.ModeMonitor ||
		cfg.Modes.Namespaces["shop"] != profile.ModeEnforce || cfg.Modes.Images["nginx:1.27"] != profile.ModeLearn {
		t.Errorf("config %+v", cfg)
	}
}

func TestRunFlagsNameABadMode(t *testing.T) {
	for args, want := range map[string]string{
		"--default-mode=watch":          "--default-mode",
		"--namespace-mode=shop=enforse": "--namespace-mode shop",
		"--image-mode=nginx=off":        "--image-mode nginx",
	} {
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		r := NewRunFlags("node-1")
		r.Register(fs)
		if err := fs.Parse([]string{args}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AgentConfig(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %s", args, err, want)
		}
	}
}

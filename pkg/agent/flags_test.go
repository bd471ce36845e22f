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

// TestMemoryLimitLeavesRoomOutsideGo: --memory-limit, as the DaemonSet
// passes limits.memory (bytes), sets Go's soft limit to it less the ring
// buffers and the reserve; unset, there is none; too small, it is refused.
func TestMemoryLimitLeavesRoomOutsideGo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int64
		err  string
	}{
		{args: nil, want: 0},
		{args: []string{"--memory-limit=536870912"}, want: (512 - 4 - 2 - 64) << 20},
		{args: []string{"--memory-limit=536870912", "--ring-buffer-size=16777216"}, want: (512 - 16 - 2 - 64) << 20},
		{args: []string{"--memory-limit=100663296"}, err: "--memory-limit 96 MiB leaves 26 MiB"},
		{args: []string{"--memory-limit=512Mi"}, err: "invalid argument"},
	} {
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		r := NewRunFlags("node-1")
		r.Register(fs)
		if err := fs.Parse(tc.args); err != nil {
			if tc.err == "" || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: parse: %v", tc.args, err)
			}
			continue
		}
		got, err := r.GoMemoryLimit()
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case got != tc.want:
			t.Errorf("%q: Go memory limit %d MiB, want %d MiB", tc.args, got>>20, tc.want>>20)
		}
	}
}

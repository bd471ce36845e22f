package cliflags

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileFillsUnsetFlags(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	node := fs.String("node-name", "", "")
	window := fs.Duration("dedup-window", time.Minute, "")
	cgroups := fs.StringSlice("exclude-cgroup", nil, "")
	modes := fs.StringToString("namespace-mode", nil, "")
	addr := fs.String("metrics-addr", "", "")
	if err := fs.Parse([]string{"--metrics-addr", ":1"}); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "node-name: worker-1\ndedup-window: 30s\nexclude-cgroup: [/a, /b]\nnamespace-mode: {shop: enforce, dev: learn}\nmetrics-addr: ':2'\n")
	if err := LoadFile(fs, path); err != nil {
		t.Fatal(err)
	}
	if *node != "worker-1" || *window != 30*time.Second || strings.Join(*cgroups, " ") != "/a /b" {
		t.Errorf("node %q window %v cgroups %q", *node, *window, *cgroups)
	}
	if (*modes)["shop"] != "enforce" || (*modes)["dev"] != "learn" {
		t.Errorf("modes = %v", *modes)
	}
	if *addr != ":1" {
		t.Errorf("metrics-addr = %q: the command line must win over the file", *addr)
	}
}

func TestLoadFileNamesBadSettings(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"node-name: x\ncolour: red\n", ":2: colour: unknown setting"},
		{"dedup-window: soon\n", ":1: dedup-window: invalid argument"},
		{"- a\n- b\n", "want a mapping"},
		{"node-name: [\n", "yaml"},
	} {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		fs.String("node-name", "", "")
		fs.Duration("dedup-window", 0, "")
		err := LoadFile(fs, writeFile(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadFile(%q) = %v, want an error with %q", tc.body, err, tc.want)
		}
	}
}

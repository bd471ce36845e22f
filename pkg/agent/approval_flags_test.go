package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/cliflags"
)

// approvalConfig reads a configuration file's approval settings as
// `vigil-agent run --config` does.
func approvalConfig(t *testing.T, doc string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	r := NewRunFlags("node-1")
	r.Register(fs)
	if err := cliflags.LoadFile(fs, path); err != nil {
		return Config{}, err
	}
	return r.AgentConfig()
}

func TestApprovalFromConfigFile(t *testing.T) {
	cfg, err := approvalConfig(t, `
approved-images: [docker.io/library/nginx, myacr.azurecr.io/team/*]
approved-images-require-known-digest: true
approved-images-action: enforce
`)
	if err != nil {
		t.Fatal(err)
	}
	want := approval.Policy{Images: []string{"docker.io/library/nginx", "myacr.azurecr.io/team/*"}, RequireKnownDigest: true, Action: approval.ActionEnforce}
	if got := cfg.Approval; strings.Join(got.Images, ",") != strings.Join(want.Images, ",") || got.RequireKnownDigest != want.RequireKnownDigest || got.Action != want.Action {
		t.Errorf("approval %+v, want %+v", got, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	if cfg, err := approvalConfig(t, "node-name: n\n"); err != nil || cfg.Approval.Action != approval.ActionOff {
		t.Errorf("default: %+v, %v", cfg.Approval, err)
	}
}

func TestApprovalConfigErrorsNameTheSetting(t *testing.T) {
	for doc, want := range map[string]string{
		"approved-images-action: block\n":                           `--approved-images-action: approval action "block": want off, alert or enforce`,
		"approved-images: [nginx]\napproved-images-action: alert\n": `--approved-images: approved image "nginx": write it normalized, as "docker.io/library/nginx"`,
		"approved-images: [docker.io/library/nginx:1.27]\n":         `approved image "docker.io/library/nginx:1.27": a tag or digest does not belong in it`,
		"approved-images-action: enforce\n":                         "no image approved and no known digest required",
		"approved-images-require-known-digest: maybe\n":             "approved-images-require-known-digest",
		"approved-images: {nginx: yes}\n":                           "approved-images",
	} {
		if _, err := approvalConfig(t, doc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %s", doc, err, want)
		}
	}
	cfg := DefaultConfig()
	cfg.Node, cfg.ContainerdSocket = "n", ""
	cfg.Approval = approval.Policy{Images: []string{"docker.io/library/nginx"}, Action: approval.ActionEnforce}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "enforce needs containerd") {
		t.Errorf("enforce without containerd: %v", err)
	}
}

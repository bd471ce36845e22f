package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/test/testutil"
)

// submitDraft stores a draft of image that ran paths in the collector.
func (c *testCollector) submitDraft(t *testing.T, image, digest string, paths ...string) {
	t.Helper()
	c.submitDelta(t, "", image, digest, paths...)
}

// submitDelta stores a draft of image that ran paths; with inheritedFrom,
// the delta of a digest running on a profile inherited from that one.
func (c *testCollector) submitDelta(t *testing.T, inheritedFrom, image, digest string, paths ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := profile.NewDraft(image, digest, profile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if inheritedFrom != "" {
		d.LearnsDeltaOf(inheritedFrom)
	}
	for _, p := range paths {
		if _, err := d.Observe(profile.Observation{Kind: profile.KindExec, Path: p, Node: "node-a", ContainerID: "c1", Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := profile.Encode(d.Profile())
	if err != nil {
		t.Fatal(err)
	}
	// The collector takes drafts of the images a node reports running.
	if _, err := c.agent.ReportStatus(ctx, &vigilv1.NodeStatus{Images: []string{digest}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{Yaml: doc}); err != nil {
		t.Fatal(err)
	}
}

// completions completes args of vigilctl, after flags, as a shell does on
// TAB, without the developer's config file.
func completions(t *testing.T, flags []string, args ...string) []string {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	return testutil.Completions(t, newRootCmd(), append(flags, args...)...)
}

func hexDigest(hex string) string { return "sha256:" + strings.Repeat(hex, 64/len(hex)) }

// TestProfilesByNameAndCompletion names profiles by image, digest prefix and
// image@digest, and completes names, nodes, namespaces and fixed values
// from a real collector.
func TestProfilesByNameAndCompletion(t *testing.T) {
	c := startCollector(t)
	nginx, nginxOld, redis := hexDigest("ab12"), hexDigest("ab34"), hexDigest("cd")
	c.submitDraft(t, "docker.io/library/nginx:1.27", nginx, "/usr/sbin/nginx")
	c.submitDraft(t, "docker.io/library/nginx:1.27", nginx, "/usr/sbin/nginx", "/bin/sh")
	c.submitDraft(t, "docker.io/library/nginx:1.26", nginxOld, "/usr/sbin/nginx")
	c.submitDraft(t, "docker.io/library/redis:7", redis, "/usr/local/bin/redis-server")

	for ref, want := range map[string]string{
		"nginx:1.27": "# digest:   " + nginx, "ab12ab@1": "# version:  1 of [1 2]", "sha256:cdcdcd": "# digest:   " + redis,
		"nginx@" + nginxOld: "# digest:   " + nginxOld, "redis": "# image:    docker.io/library/redis:7",
	} {
		out, err := run(t, nil, c.flags("profiles", "show", ref)...)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("profiles show %s: %v\n%s", ref, err, out)
		}
	}
	out, err := run(t, nil, c.flags("profiles", "diff", "nginx:1.27")...)
	if err != nil || strings.TrimSpace(out) != "+ executables: /bin/sh (1 node: node-a)" {
		t.Errorf("profiles diff nginx:1.27: %v\n%s", err, out)
	}
	_, err = run(t, nil, c.flags("profiles", "mode", "nginx", "enforce")...)
	if err == nil || !strings.Contains(err.Error(), `"nginx" names 2 profiles`) || !strings.Contains(err.Error(), nginxOld) {
		t.Errorf("profiles mode with an ambiguous name: %v", err)
	}
	out, err = run(t, nil, c.flags("profiles", "mode", "ab12ab", "enforce", "--force")...)
	if err != nil || !strings.Contains(out, nginx+" is now enforce") {
		t.Errorf("profiles mode by prefix: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.agent.ReportStatus(ctx, &vigilv1.NodeStatus{AgentVersion: "v1"}); err != nil {
		t.Fatal(err)
	}
	c.send(t, alert("a1", "shop", time.Now()), alert("a2", "payments", time.Now()))

	flags := c.flags()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"profiles", "show", "ngi"}, []string{"nginx:1.26", "nginx:1.27"}},
		{[]string{"profiles", "export", "sha256:ab"}, []string{nginx, nginxOld}},
		{[]string{"profiles", "diff", "nginx:1.27", "re"}, []string{"redis:7"}},
		{[]string{"profiles", "diff", "nginx:1.27", "redis:7", ""}, nil}, // no third
		{[]string{"profiles", "mode", "nginx:1.27", "e"}, []string{"enforce"}},
		{[]string{"alerts", "tail", "--node", ""}, []string{"node-a"}},
		{[]string{"alerts", "list", "--namespace", "shop,"}, []string{"shop,payments"}},
		{[]string{"alerts", "list", "--image", "docker.io/library/r"}, []string{"docker.io/library/redis:7"}},
		{[]string{"alerts", "list", "--kind", "c"}, []string{"capability", "connect"}},
		{[]string{"nodes", "-o", ""}, []string{"json", "text", "yaml"}},
	} {
		if got := completions(t, flags, tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("completing %q: %q, want %q", tc.args, got, tc.want)
		}
	}
	// Without a collector, TAB offers nothing rather than failing.
	flags[slices.Index(flags, "--server")+1] = testutil.FreeAddr(t)
	if got := completions(t, flags, "profiles", "show", ""); len(got) != 0 {
		t.Errorf("completion without a collector: %q", got)
	}
}

package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// yamlDocs decodes a stream of YAML documents.
func yamlDocs(t *testing.T, out string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(out))
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not YAML: %v\n%s", err, out)
			}
			return docs
		}
		docs = append(docs, doc)
	}
}

// TestYAMLWhereverJSON asks for -o yaml of every command that prints JSON.
func TestYAMLWhereverJSON(t *testing.T) {
	c := startCollector(t)
	digest := hexDigest("ab12")
	c.submitDraft(t, "docker.io/library/nginx:1.27", digest, "/usr/sbin/nginx")
	c.submitDraft(t, "docker.io/library/nginx:1.27", digest, "/usr/sbin/nginx", "/bin/sh")
	c.send(t, alert("a1", "shop", time.Now()), alert("a2", "payments", time.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.agent.ReportStatus(ctx, &vigilv1.NodeStatus{AgentVersion: "v1", Counters: map[string]uint64{"lost_queue_open": 3}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args  []string
		docs  int
		check func(map[string]any) bool
	}{
		{[]string{"alerts", "list"}, 2, func(d map[string]any) bool {
			return d["id"] == "a1" && d["container"].(map[string]any)["namespace"] == "shop"
		}},
		{[]string{"nodes"}, 1, func(d map[string]any) bool {
			return d["node"] == "node-a" && d["counters"].(map[string]any)["lost_queue_open"] == "3"
		}},
		{[]string{"profiles", "list"}, 1, func(d map[string]any) bool { return d["image_digest"] == digest && d["version"] == 2 }},
		{[]string{"profiles", "show", "nginx:1.27@1"}, 1, func(d map[string]any) bool {
			return d["version"] == 1 && strings.Contains(d["yaml"].(string), "kind: ImageProfile")
		}},
		{[]string{"profiles", "diff", "nginx:1.27"}, 1, func(d map[string]any) bool { return d["text"] == "+ executables: /bin/sh\n" }},
	} {
		out, err := run(t, nil, c.flags(append(tc.args, "-o", "yaml")...)...)
		if err != nil {
			t.Errorf("%v -o yaml: %v", tc.args, err)
			continue
		}
		docs := yamlDocs(t, out)
		if len(docs) != tc.docs || !tc.check(docs[0]) {
			t.Errorf("%v -o yaml: %d documents, first %v\n%s", tc.args, len(docs), docs, out)
		}
	}
	if _, err := run(t, nil, c.flags("nodes", "-o", "xml")...); err == nil || !strings.Contains(err.Error(), "want text, json or yaml") {
		t.Errorf("-o xml: %v", err)
	}
}

// TestColourDoesNotWidenColumns prints the tables with and without colour:
// without the escape codes they are the same, column for column.
func TestColourDoesNotWidenColumns(t *testing.T) {
	c := startCollector(t)
	c.submitDraft(t, "docker.io/library/nginx:1.27", hexDigest("ab12"), "/usr/sbin/nginx")
	c.submitDraft(t, "docker.io/library/redis:7", hexDigest("cd"), "/usr/local/bin/redis-server")
	if _, err := run(t, nil, c.flags("profiles", "mode", "redis:7", "enforce")...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.agent.ReportStatus(ctx, &vigilv1.NodeStatus{AgentVersion: "v1", Counters: map[string]uint64{"lost_queue_open": 3}}); err != nil {
		t.Fatal(err)
	}
	escape := regexp.MustCompile("\x1b\\[[0-9;]*m")
	for _, cmd := range [][]string{{"profiles", "list"}, {"nodes"}} {
		plain, err := run(t, nil, c.flags(append(cmd, "--color", "never")...)...)
		if err != nil {
			t.Fatal(err)
		}
		coloured, err := run(t, nil, c.flags(append(cmd, "--color", "always")...)...)
		if err != nil {
			t.Fatal(err)
		}
		if !escape.MatchString(coloured) {
			t.Errorf("%v --color always has no colour:\n%s", cmd, coloured)
		}
		// LAST SEEN may tick between the two runs.
		seen := regexp.MustCompile(`\d+s ago`)
		if a, b := seen.ReplaceAllString(escape.ReplaceAllString(coloured, ""), "Ns ago"), seen.ReplaceAllString(plain, "Ns ago"); a != b {
			t.Errorf("%v: colour moves the columns:\n%s\nwithout colour:\n%s", cmd, a, b)
		}
	}
}

// TestRefusedCreateSaysFileLeft prints the alert of a refused create: the
// text says the empty file is left.
func TestRefusedCreateSaysFileLeft(t *testing.T) {
	c := startCollector(t)
	a := alert("create", "shop", time.Now())
	a.Kind, a.Object, a.Access = vigilv1.Kind_KIND_OPEN, &vigilv1.Object{Path: "/etc/cron.d/x"}, "write"
	a.Labels = map[string]string{"file_left": "empty: …"}
	c.send(t, a, alert("exec", "shop", time.Now()))
	out, err := run(t, nil, c.flags("alerts", "list")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || !strings.Contains(lines[0], "BLOCKED open /etc/cron.d/x (write)") ||
		!strings.HasSuffix(lines[0], "(empty file left)") || strings.Contains(lines[1], "file left") {
		t.Errorf("alerts list: %v\n%s", err, out)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	valert "github.com/vigil-dev/vigil/pkg/alert"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/test/testutil"
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
			return d["node"] == "node-a" && d["counters"].(map[string]any)["lost_queue_open"] == 3
		}},
		{[]string{"profiles", "list"}, 1, func(d map[string]any) bool { return d["image_digest"] == digest && d["version"] == 2 }},
		{[]string{"profiles", "show", "nginx:1.27@1"}, 1, func(d map[string]any) bool {
			return d["version"] == 1 && strings.Contains(d["yaml"].(string), "kind: ImageProfile")
		}},
		{[]string{"profiles", "diff", "nginx:1.27"}, 1, func(d map[string]any) bool { return d["text"] == "+ executables: /bin/sh (1 node: node-a)\n" }},
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
	if _, err := run(t, nil, c.flags("profiles", "mode", "redis:7", "enforce", "--force")...); err != nil {
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

// TestRefusedCreateSaysFileLeft prints the alerts of refused creates: with
// O_EXCL the text says the empty file is left, without it that one is left
// if the file did not exist.
func TestRefusedCreateSaysFileLeft(t *testing.T) {
	c := startCollector(t)
	var alerts []*vigilv1.Alert
	for i, left := range []string{"empty", "empty_if_new", ""} {
		a := alert(fmt.Sprint("create-", i), "shop", time.Now().Add(time.Duration(i)*time.Second))
		a.Kind, a.Object, a.Access = vigilv1.Kind_KIND_OPEN, &vigilv1.Object{Path: "/etc/cron.d/x"}, "write"
		if left != "" {
			a.Labels = map[string]string{"file_left": left}
		}
		alerts = append(alerts, a)
	}
	c.send(t, alerts...)
	out, err := run(t, nil, c.flags("alerts", "list")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 3 || !strings.Contains(lines[0], "BLOCKED open /etc/cron.d/x (write)") ||
		!strings.HasSuffix(lines[0], "(empty file left)") || !strings.HasSuffix(lines[1], "(an empty file is left if none existed)") ||
		strings.Contains(lines[2], "file left") {
		t.Errorf("alerts list: %v\n%s", err, out)
	}
}

// TestGapAlertShown stores an agent restart gap alert as the agent builds
// it (the collector stamps the node of the certificate, node-a): text
// output says what was not seen, and --kind agent_gap finds it.
func TestGapAlertShown(t *testing.T) {
	c := startCollector(t)
	// Recent, so that alerts list's default time window holds it.
	from := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	to := from.Add(1234 * time.Millisecond)
	other := alert("exec", "shop", from)
	c.send(t, other, valert.Gap("node-a", from, to))
	out, err := run(t, nil, c.flags("alerts", "list", "--kind", "agent_gap")...)
	want := fmt.Sprintf("node-a GAP agent restart: events from %s to %s were not seen (1.234s)",
		from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 1 || !strings.HasSuffix(lines[0], want) {
		t.Errorf("alerts list --kind agent_gap: %v\n%s\nwant one line ending %q", err, out, want)
	}
}

// hostile is what a container can put in a name: an erase-line and
// carriage return, an OSC 52 clipboard write ended by BEL, NUL, DEL and a C1
// CSI.
const hostile = "/tmp/\x1b[2K\rok\x1b]52;c;Y3VybA==\a\x00\x7f\u009b31m"

// hostileEscaped is hostile as text output shows it.
const hostileEscaped = `/tmp/\x1b[2K\rok\x1b]52;c;Y3VybA==\a\x00\x7f\u009b31m`

// hostileFile is hostile as a file name: without the NUL, which a path
// cannot hold (a profile refuses it).
const hostileFile = "/tmp/\x1b[2K\rok\x1b]52;c;Y3VybA==\a\x7f\u009b31m"

// TestTextOutputEscapesControls stores an alert, a node status and a
// profile whose names hold control characters: every text output shows
// them escaped and holds none raw; JSON and YAML carry them losslessly.
func TestTextOutputEscapesControls(t *testing.T) {
	c := startCollector(t)
	a := alert("evil", "shop", time.Now())
	a.Kind, a.Object, a.Access = vigilv1.Kind_KIND_OPEN, &vigilv1.Object{Path: hostile}, "write"
	a.Process.Path, a.Container.Image, a.Container.Pod = hostile, "img"+hostile, "pod"+hostile
	c.send(t, a)
	digest := hexDigest("ab12")
	c.submitDraft(t, "docker.io/library/nginx:1.27", digest, "/usr/sbin/nginx")
	c.submitDraft(t, "docker.io/library/nginx:1.27", digest, "/usr/sbin/nginx", hostileFile)
	// After the drafts: submitDraft reports a status of its own, which
	// replaces the node's last one.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.agent.ReportStatus(ctx, &vigilv1.NodeStatus{AgentVersion: "v1", Kernel: hostile,
		Counters: map[string]uint64{"lost" + hostile: 1}}); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"alerts", "list"}, {"nodes"}, {"profiles", "list"}, {"profiles", "show", digest}, {"profiles", "diff", digest},
		{"profiles", "diff", digest, "--unified"},
	} {
		out, err := run(t, nil, c.flags(args...)...)
		if err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if raw := testutil.TerminalControls(out); raw != nil {
			t.Errorf("%v holds %q raw:\n%s", args, raw, out)
		}
		shown := hostileEscaped
		if args[0] == "profiles" {
			shown = `/tmp/\x1b[2K\rok\x1b]52;c;Y3VybA==\a\x7f\u009b31m`
		}
		if args[0] != "profiles" || args[1] == "diff" && len(args) == 3 {
			if !strings.Contains(out, shown) {
				t.Errorf("%v does not show the name escaped:\n%s", args, out)
			}
		}
	}

	out, err := run(t, nil, c.flags("alerts", "list", "-o", "json")...)
	var got struct{ Object struct{ Path string } }
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.Object.Path != hostile {
		t.Errorf("alerts list -o json: %v, path %q\n%s", err, got.Object.Path, out)
	}
	out, err = run(t, nil, c.flags("alerts", "list", "-o", "yaml")...)
	if docs := yamlDocs(t, out); err != nil || len(docs) != 1 || docs[0]["object"].(map[string]any)["path"] != hostile {
		t.Errorf("alerts list -o yaml: %v, %v\n%s", err, docs, out)
	}
	if raw := testutil.TerminalControls(out); raw != nil {
		t.Errorf("alerts list -o yaml holds %q raw:\n%s", raw, out)
	}
	out, err = run(t, nil, c.flags("profiles", "export", digest)...)
	doc, derr := profile.Decode("export", []byte(out))
	if err != nil || derr != nil || testutil.TerminalControls(out) != nil || !slices.ContainsFunc(doc.Spec.Executables, func(e profile.ExecEntry) bool { return e.Path == hostileFile }) {
		t.Errorf("profiles export: %v, %v\n%s", err, derr, out)
	}
}

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/pkg/audit"
)

// TestAudit: the profile commands leave records naming the admin
// certificate; list filters and prints them; verify walks the chain over
// gRPC and from an export, and names the record changed in the database.
func TestAudit(t *testing.T) {
	c := startCollector(t)
	const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	c.submitDraft(t, "nginx:1.27", digest, "/usr/sbin/nginx")
	if out, err := run(t, nil, c.flags("profiles", "mode", digest, "monitor", "--expect-version", "1")...); err != nil {
		t.Fatalf("mode: %v\n%s", err, out)
	}
	out, err := run(t, nil, c.flags("audit", "list")...)
	if err != nil {
		t.Fatal(err, out)
	}
	t.Logf("vigilctl audit list:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "SEQ") ||
		!strings.Contains(lines[1], "node:node-a") || !strings.Contains(lines[1], "certificate.seen") ||
		!strings.Contains(lines[2], "profile.merge") || !strings.Contains(lines[3], "consumer:admin") ||
		!strings.Contains(lines[4], "profile.mode") || !strings.Contains(lines[4], "v1 learn sha256:") || !strings.Contains(lines[4], "v2 monitor sha256:") {
		t.Fatalf("audit list:\n%s", out)
	}

	out, err = run(t, nil, c.flags("audit", "list", "--actor", "consumer:admin", "--object", "profile:*", "--since", "1h", "-o", "json")...)
	if err != nil {
		t.Fatal(err, out)
	}
	var rec map[string]any
	if strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &rec) != nil || rec["action"] != "profile.mode" || rec["object"] != "profile:"+digest || rec["seq"] != "4" {
		t.Fatalf("audit list --actor --object -o json:\n%s", out)
	}
	if out, err := run(t, nil, c.flags("audit", "list", "--until", "1h")...); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("nothing before an hour ago: %v\n%s", err, out)
	}

	out, err = run(t, nil, c.flags("audit", "verify")...)
	if err != nil || !strings.HasPrefix(out, "4 records verified; head ") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	head := strings.TrimSpace(strings.TrimPrefix(out, "4 records verified; head "))

	// An export, as the collector's --audit-jsonl-file sink writes it,
	// with a record delivered twice.
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	out, err = run(t, nil, c.flags("audit", "list", "-o", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.SplitAfter(out, "\n")
	if err := os.WriteFile(export, []byte(strings.Join(append(lines[:2], lines[1:]...), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, nil, "audit", "verify", "--file", export, "--head", head); err != nil || !strings.HasPrefix(out, "4 records verified") {
		t.Fatalf("verify --file: %v\n%s", err, out)
	}
	if err := os.WriteFile(export, []byte(strings.Join(lines[:3], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, nil, "audit", "verify", "--file", export, "--head", head); err == nil || !strings.Contains(err.Error(), "does not hold the head") {
		t.Fatalf("export cut short, verified against the head: %v", err)
	}

	// Someone with the database file hides who changed the mode.
	db, err := sql.Open("sqlite", "file:"+c.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP TRIGGER audit_no_update", "UPDATE audit SET actor = 'node:node-a' WHERE seq = 4"} {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err = run(t, nil, c.flags("audit", "verify")...)
	var broken *audit.BrokenError
	if !errors.As(err, &broken) || broken.Seq != 4 {
		t.Fatalf("verify after changing record 4: %v", err)
	}
	t.Logf("vigilctl audit verify: %v", err)
}

package collector

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/protojson"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/audit"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/store"
)

// listAudit reads every record matching f over gRPC, page by page.
func listAudit(t *testing.T, ops vigilv1.ConsumerServiceClient, f *vigilv1.AuditFilter) []*vigilv1.AuditRecord {
	t.Helper()
	var out []*vigilv1.AuditRecord
	var after int64
	for {
		resp, err := ops.ListAudit(testCtx(t, 10*time.Second), &vigilv1.ListAuditRequest{Filter: f, AfterSeq: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.GetRecords()...)
		if !resp.GetTruncated() {
			return out
		}
		after = out[len(out)-1].GetSeq()
	}
}

func verifyRecords(recs []*vigilv1.AuditRecord) error {
	var v audit.Verifier
	for _, r := range recs {
		if err := v.Next(r); err != nil {
			return err
		}
	}
	return nil
}

// TestAuditTrail: every kind of administrative action is recorded with the
// caller's certificate identity and the object's versions before and after,
// listed over mTLS gRPC, exported to a file in chain order, and a row
// changed in the database is found at its record.
func TestAuditTrail(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "collector.db")
	st, err := store.OpenSQLite(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	exportPath := filepath.Join(t.TempDir(), "audit.jsonl")
	out, err := newAuditFile(exportPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 60*time.Second)
	var exporter *AuditExporter
	e := serveEnv(t, newAuthority(t), "127.0.0.1:0", st, func(o *Options) {
		o.Inherit, o.DraftMinNodes = profile.InheritEnforce, 1
		if exporter, err = NewAuditExporter("jsonl", out, st, o.Registerer, zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
		o.AuditExporters = []*AuditExporter{exporter}
	})
	t.Cleanup(func() { e.c.Stop(testCtx(t, 10*time.Second)); exporter.Close() }) // the collector runs it until it stops

	cfg := DefaultConfig()
	cfg.WebhookAuthHeader = "Authorization: Bearer s3cret"
	cfg.Store = "postgres://vigil:pa55@db/vigil"
	for range 2 {
		if err := e.c.auditConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	ops, agent := e.consumer(t), e.agent(t, "node-a")
	monitor, enforce := vigilv1.ProfileMode_PROFILE_MODE_MONITOR, vigilv1.ProfileMode_PROFILE_MODE_ENFORCE
	imported, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: learned(t, "node-a", "/usr/sbin/nginx"), Mode: monitor})
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := ops.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: testDigest, Mode: enforce, ExpectVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	// node-a runs a new version of the image, on the inherited profile.
	child := "sha256:" + strings.Repeat("2", 64)
	reportRunning(t, agent, child)
	d, err := profile.NewDraft("nginx:1.28", child, profile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d.LearnsDeltaOf(profile.Ref(testDigest, 2))
	inheritDoc, err := profile.Encode(d.Profile())
	if err != nil {
		t.Fatal(err)
	}
	inherited, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{Yaml: inheritDoc})
	if err != nil {
		t.Fatal(err)
	}
	// ... and an image of its own that learns: its drafts are merged.
	own := "sha256:" + strings.Repeat("3", 64)
	reportRunning(t, agent, child, own)
	for _, path := range []string{"/bin/a", "/bin/b"} {
		d, err := profile.NewDraft("redis:7", own, profile.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		d.Observe(profile.Observation{Kind: profile.KindExec, Path: path, ContainerID: "c3", Node: "node-a", Time: t0})
		doc, err := profile.Encode(d.Profile())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{Yaml: doc}); err != nil {
			t.Fatal(err)
		}
	}

	recs := listAudit(t, ops, nil)
	type row struct{ actor, action, object, before, after string }
	var got []row
	for _, r := range recs {
		got = append(got, row{r.GetActor(), r.GetAction(), r.GetObject(), r.GetBefore(), r.GetAfter()})
	}
	host, _ := os.Hostname()
	v1 := profileVersion(imported.GetProfile())
	v2 := profileVersion(promoted.GetProfile())
	if !strings.HasPrefix(v1, "v1 monitor sha256:") || !strings.HasPrefix(v2, "v2 enforce sha256:") {
		t.Fatalf("versions named %q, %q", v1, v2)
	}
	cfgJSON, _ := configJSON(cfg)
	if strings.Contains(cfgJSON, "s3cret") || strings.Contains(cfgJSON, "pa55") {
		t.Fatalf("configuration record holds a secret: %s", cfgJSON)
	}
	want := []row{
		{"collector:" + host, actionConfig, "collector:" + host, "", cfgJSON},
		{"collector:" + host, actionConfig, "collector:" + host, cfgJSON, cfgJSON},
		{"consumer:alice", actionCert, "certificate:vigil-consumer/alice", "", got[2].after},
		{"consumer:alice", actionImport, "profile:" + testDigest, "", v1},
		{"consumer:alice", actionMode, "profile:" + testDigest, v1, v2},
		{"node:node-a", actionCert, "certificate:vigil-agent/node-a", "", got[5].after},
		{"node:node-a", actionInherit, "profile:" + child, "", profileVersion(inherited.GetProfile())},
		{"node:node-a", actionMerge, "profile:" + own, "", got[7].after},
		{"node:node-a", actionMerge, "profile:" + own, got[7].after, got[8].after},
	}
	if len(got) != len(want) {
		t.Fatalf("audit records:\n%v\nwant\n%v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %+v\nwant %+v", i+1, got[i], want[i])
		}
	}
	if recs[1].GetDetail() != "unchanged" || recs[6].GetDetail() != "inherited from "+profile.Ref(testDigest, 2) {
		t.Errorf("details: %q, %q", recs[1].GetDetail(), recs[6].GetDetail())
	}
	if !strings.HasPrefix(got[2].after, "sha256:") || !strings.Contains(got[2].after, `issuer "test CA"`) {
		t.Errorf("certificate named %q", got[2].after)
	}
	if err := verifyRecords(recs); err != nil {
		t.Fatal(err)
	}

	// Filters.
	for name, c := range map[string]struct {
		f    *vigilv1.AuditFilter
		want int
	}{
		"actor":   {&vigilv1.AuditFilter{Actor: "consumer:alice"}, 3},
		"object":  {&vigilv1.AuditFilter{Object: "profile:*"}, 5},
		"action":  {&vigilv1.AuditFilter{Action: actionMerge}, 2},
		"until":   {&vigilv1.AuditFilter{Until: recs[3].GetTime()}, 3},
		"nothing": {&vigilv1.AuditFilter{Actor: "consumer:bob"}, 0},
	} {
		if n := len(listAudit(t, ops, c.f)); n != c.want {
			t.Errorf("filter %s: %d records, want %d", name, n, c.want)
		}
	}

	// The export holds the whole chain.
	deadline := time.Now().Add(10 * time.Second)
	var lines []*vigilv1.AuditRecord
	for len(lines) < len(recs) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		lines = readAuditFile(t, exportPath)
	}
	if len(lines) != len(recs) || lines[len(lines)-1].GetHash() != recs[len(recs)-1].GetHash() {
		t.Fatalf("exported %d records, want %d", len(lines), len(recs))
	}
	if err := verifyRecords(lines); err != nil {
		t.Fatalf("exported chain: %v", err)
	}
	if n := metric(t, e.reg, "vigil_audit_exported_total", "sink", "jsonl"); n != float64(len(recs)) {
		t.Fatalf("vigil_audit_exported_total = %v", n)
	}

	// Someone with the database file changes who promoted the profile.
	db, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "UPDATE audit SET actor = 'consumer:mallory' WHERE seq = 5"); err == nil {
		t.Fatal("UPDATE of an audit row accepted")
	}
	for _, q := range []string{"DROP TRIGGER audit_no_update", "UPDATE audit SET actor = 'consumer:mallory' WHERE seq = 5"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var broken *audit.BrokenError
	if err := verifyRecords(listAudit(t, ops, nil)); !errors.As(err, &broken) || broken.Seq != 5 {
		t.Fatalf("verify after changing record 5: %v", err)
	}
}

func readAuditFile(t *testing.T, path string) []*vigilv1.AuditRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*vigilv1.AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r := new(vigilv1.AuditRecord)
		if err := protojson.Unmarshal(sc.Bytes(), r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

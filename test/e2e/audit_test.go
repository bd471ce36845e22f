package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the collector's database, opened to tamper with it

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/pki"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
)

// TestAuditTrailEndToEnd: the agent learns a container, its draft is merged
// into a profile at the collector, an operator changes the profile's mode
// with the RPC vigilctl uses; vigilctl audit list shows the merge, the mode
// change with the versions before and after and the operator's identity,
// and the node's approval policy; audit verify passes, and fails naming the
// record once a row is changed in the collector's database.
func TestAuditTrailEndToEnd(t *testing.T) {
	busybox := containerdtest.BusyboxImage(t)
	w := newWorld(t, "audit", busybox)
	digest := busybox.ManifestDigest.String()
	col := startCollectorFor(t, "e2e-node", 300*time.Millisecond)
	cfg := w.agentConfig(t)
	cfg.Collector = col.agent
	cfg.Approval = approval.Policy{Images: []string{"vigil.test/*"}, Action: approval.ActionAlert}
	startAgent(t, cfg)
	vigilctl := buildVigilctl(t)

	c := w.d.Run(t, containerdtest.RunOptions{Image: busybox, Namespace: w.ns, Args: []string{"/bin/sleep", "3600"}})
	execIn(t, c, "ls / >/dev/null; true")

	// Merges may still come while the operator acts: the mode change names
	// the version it expects, and is tried again on a newer one.
	ctx := context.Background()
	var before, after *vigilv1.Profile
	waitFor(t, "the merged profile set to monitor", func() bool {
		r, err := col.consumer.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest}})
		if err != nil {
			return false
		}
		m, err := col.consumer.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: digest,
			Mode: vigilv1.ProfileMode_PROFILE_MODE_MONITOR, ExpectVersion: r.GetProfile().GetVersion()})
		if err != nil {
			return false
		}
		before, after = r.GetProfile(), m.GetProfile()
		return true
	})

	policy, sum := cfg.Approval.Canonical()
	var recs []*vigilv1.AuditRecord
	find := func(actor, action, object string) *vigilv1.AuditRecord {
		for _, r := range recs {
			if r.GetActor() == actor && r.GetAction() == action && r.GetObject() == object {
				return r
			}
		}
		return nil
	}
	waitFor(t, "the approval policy recorded", func() bool {
		r, err := col.consumer.ListAudit(ctx, &vigilv1.ListAuditRequest{Limit: 1000})
		recs = r.GetRecords()
		return err == nil && find("node:e2e-node", "approval.policy", "approval-policy:e2e-node") != nil
	})
	object := "profile:" + digest
	merge := find("node:e2e-node", "profile.merge", object)
	mode := find("consumer:admin", "profile.mode", object)
	pol := find("node:e2e-node", "approval.policy", "approval-policy:e2e-node")
	version := func(p *vigilv1.Profile) string {
		return fmt.Sprintf("v%d %s sha256:%s", p.GetVersion(), strings.ToLower(strings.TrimPrefix(p.GetMode().String(), "PROFILE_MODE_")), p.GetSha256())
	}
	switch {
	case merge == nil || !strings.HasPrefix(merge.GetAfter(), "v1 "):
		t.Errorf("merge record %v, want one of the node's making v1", merge)
	case mode == nil || mode.GetBefore() != version(before) || mode.GetAfter() != version(after) || after.GetVersion() != before.GetVersion()+1:
		t.Errorf("mode record %v, want admin's from %q to %q", mode, version(before), version(after))
	case pol.GetBefore() != "" || pol.GetAfter() != "sha256:"+sum+" "+policy:
		t.Errorf("approval policy record %v, want none before, %s %s after", pol, sum, policy)
	case find("consumer:admin", "certificate.seen", "certificate:vigil-consumer/admin") == nil:
		t.Errorf("no record of admin's certificate in %v", recs)
	}

	flags := []string{"--server", col.agent.Address, "--ca", filepath.Join(col.certs, pki.CAFile),
		"--cert", filepath.Join(col.certs, "admin.pem"), "--key", filepath.Join(col.certs, "admin-key.pem")}
	ctl := func(args ...string) (string, error) {
		out, err := exec.Command(vigilctl, append(args, flags...)...).CombinedOutput()
		return string(out), err
	}
	list, err := ctl("audit", "list")
	if err != nil {
		t.Fatalf("audit list: %v\n%s", err, list)
	}
	t.Logf("vigilctl audit list:\n%s", list)
	// Digests are cut to 12 digits in the table.
	for _, want := range []string{
		fmt.Sprintf(`consumer:admin +profile\.mode +profile:sha256:%s… +v%d \S+ sha256:%s… +v%d monitor sha256:%s…`,
			digest[7:19], before.GetVersion(), before.GetSha256()[:12], after.GetVersion(), after.GetSha256()[:12]),
		fmt.Sprintf(`node:e2e-node +profile\.merge +profile:sha256:%s… +- +v1 `, digest[7:19]),
		fmt.Sprintf(`node:e2e-node +approval\.policy +approval-policy:e2e-node +- +sha256:%s… {"images"`, sum[:12]),
	} {
		if !regexp.MustCompile(want).MatchString(list) {
			t.Errorf("audit list lacks %s", want)
		}
	}
	if out, err := ctl("audit", "verify"); err != nil || !strings.Contains(out, fmt.Sprintf("%d records verified", len(recs))) {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}

	// Someone with the database file makes the mode change another's.
	db, err := sql.Open("sqlite", "file:"+col.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP TRIGGER audit_no_update", fmt.Sprintf("UPDATE audit SET actor = 'consumer:mallory' WHERE seq = %d", mode.GetSeq())} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	out, err := ctl("audit", "verify")
	if want := fmt.Sprintf("audit chain broken at record %d", mode.GetSeq()); err == nil || !strings.Contains(out, want) {
		t.Fatalf("audit verify after changing record %d: %v\n%s", mode.GetSeq(), err, out)
	}
	t.Logf("vigilctl audit verify, record %d changed: %s", mode.GetSeq(), strings.TrimSpace(out))
}

// buildVigilctl builds vigilctl into a directory of the test's.
func buildVigilctl(t *testing.T) string { return buildCommand(t, "vigilctl") }

// buildCommand builds ./cmd/NAME into a directory of the test's.
func buildCommand(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

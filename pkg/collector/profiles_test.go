package collector

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/ship"
	"github.com/vigil-dev/vigil/test/testutil"
)

const testDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

// learned is the canonical YAML of a draft that saw node execute paths.
func learned(t *testing.T, node string, paths ...string) []byte {
	t.Helper()
	var obs []profile.Observation
	for _, p := range paths {
		obs = append(obs, profile.Observation{Kind: profile.KindExec, Path: p, ContainerID: "c-" + node, Node: node, Time: t0})
	}
	return draftOf(t, obs...)
}

// draftOf is the canonical YAML of a draft of testDigest that saw obs.
func draftOf(t *testing.T, obs ...profile.Observation) []byte {
	t.Helper()
	d, err := profile.NewDraft("nginx:1.27", testDigest, profile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		if _, err := d.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := profile.Encode(d.Profile())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// reportRunning has an agent report that its node runs the images.
func reportRunning(t *testing.T, agent vigilv1.AgentServiceClient, digests ...string) {
	t.Helper()
	if _, err := agent.ReportStatus(testCtx(t, 10*time.Second), &vigilv1.NodeStatus{Images: digests}); err != nil {
		t.Fatal(err)
	}
}

func TestDraftsMergeIntoVersionsAndPromotionReachesAgents(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 60*time.Second)
	nodeA, nodeB, ops := e.agent(t, "node-a"), e.agent(t, "node-b"), e.consumer(t)
	reportRunning(t, nodeA, testDigest)
	reportRunning(t, nodeB, testDigest)

	submit := func(agent vigilv1.AgentServiceClient, doc []byte) *vigilv1.Profile {
		t.Helper()
		resp, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{ImageDigest: testDigest, Yaml: doc})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetProfile()
	}
	// One node's draft makes a first version, empty: its nginx waits for a
	// second node.
	if p := submit(nodeA, learned(t, "node-a", "/usr/sbin/nginx")); p.GetVersion() != 1 || p.GetMode() != vigilv1.ProfileMode_PROFILE_MODE_LEARN ||
		strings.Contains(string(p.GetYaml()), "/usr/sbin/nginx") {
		t.Fatalf("first draft made %v", p)
	}
	// What node-b alone saw (curl) waits for a second node; nginx is now
	// supported by two: a new version says so.
	p := submit(nodeB, learned(t, "node-b", "/usr/sbin/nginx", "/usr/bin/curl"))
	if p.GetVersion() != 2 || strings.Join(p.GetNodes(), ",") != "node-a,node-b" {
		t.Fatalf("second node's draft made v%d from %v, want v2 from node-a,node-b", p.GetVersion(), p.GetNodes())
	}
	merged, err := profile.Decode("v2", p.GetYaml())
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Spec.Executables) != 1 || merged.Metadata.Version != 2 {
		t.Fatalf("merged profile %+v", merged.Spec.Executables)
	}
	nginx := merged.Spec.Executables[0]
	if nginx.Path != "/usr/sbin/nginx" || nginx.Evidence.Count != 2 || nginx.Evidence.Nodes.Len() != 2 {
		t.Fatalf("evidence of nginx not merged from both nodes: %+v", nginx)
	}
	// The same draft again changes only evidence: no new version.
	if p := submit(nodeB, learned(t, "node-b", "/usr/sbin/nginx", "/usr/bin/curl")); p.GetVersion() != 2 {
		t.Fatalf("evidence-only draft made v%d", p.GetVersion())
	}
	diff, err := ops.DiffProfiles(ctx, &vigilv1.DiffProfilesRequest{
		From: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: 1}, To: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if diff.GetEqual() || diff.GetText() != "+ executables: /usr/sbin/nginx (2 nodes: node-a, node-b)\n? executables: /usr/bin/curl (held back: 1 node: node-b)\n" {
		t.Fatalf("diff v1..v2: %q\n%s", diff.GetText(), diff.GetUnified())
	}
	// A second node sees curl: it is merged, with both nodes behind it.
	if p := submit(nodeA, learned(t, "node-a", "/usr/sbin/nginx", "/usr/bin/curl")); p.GetVersion() != 3 {
		t.Fatalf("curl seen by a second node made v%d, want v3", p.GetVersion())
	}
	diff, err = ops.DiffProfiles(ctx, &vigilv1.DiffProfilesRequest{
		From: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: 2}, To: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if diff.GetEqual() || diff.GetText() != "+ executables: /usr/bin/curl (2 nodes: node-a, node-b)\n" ||
		!strings.Contains(diff.GetUnified(), "+    - path: /usr/bin/curl") {
		t.Fatalf("diff v2..v3: %q\n%s", diff.GetText(), diff.GetUnified())
	}

	// An agent watching gets the snapshot, then the promotion.
	watch, err := nodeA.WatchProfiles(ctx, &vigilv1.WatchProfilesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := watch.Recv(); err != nil || u.GetProfile().GetVersion() != 3 {
		t.Fatalf("snapshot: %v %v", u, err)
	}
	if u, err := watch.Recv(); err != nil || !u.GetSnapshotComplete() {
		t.Fatalf("snapshot marker: %v %v", u, err)
	}
	enforce := vigilv1.ProfileMode_PROFILE_MODE_ENFORCE
	_, err = ops.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: testDigest, Mode: enforce, ExpectVersion: 1})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("promoting a version that is not the latest: %v", err)
	}
	promoted, err := ops.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: testDigest, Mode: enforce, ExpectVersion: 3})
	if err != nil {
		t.Fatal(err)
	}
	u, err := watch.Recv()
	if err != nil || u.GetProfile().GetVersion() != 4 || u.GetProfile().GetMode() != enforce || u.GetProfile().GetAuthor() != "consumer:alice" {
		t.Fatalf("pushed update: %v %v", u, err)
	}
	if promoted.GetProfile().GetSha256() != u.GetProfile().GetSha256() {
		t.Fatal("agent got other bytes than the consumer saw")
	}
	// Promoted: a new draft is kept but does not change the profile.
	if p := submit(nodeA, learned(t, "node-a", "/bin/sh")); p.GetVersion() != 4 {
		t.Fatalf("draft after promotion made v%d", p.GetVersion())
	}
	diff, err = ops.DiffProfiles(ctx, &vigilv1.DiffProfilesRequest{
		From: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: 3}, To: &vigilv1.ProfileRef{ImageDigest: testDigest}})
	if err != nil || diff.GetText() != "~ mode: learn -> enforce\n" || diff.GetEqual() {
		t.Fatalf("diff v3..latest: %q %v", diff.GetText(), err)
	}
}

func TestImportExportAndBadDocuments(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 60*time.Second)
	ops, agent := e.consumer(t), e.agent(t, "node-a")

	imported, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: learned(t, "node-a", "/usr/sbin/nginx"), Mode: vigilv1.ProfileMode_PROFILE_MODE_MONITOR})
	if err != nil {
		t.Fatal(err)
	}
	if imported.GetProfile().GetVersion() != 1 || imported.GetProfile().GetMode() != vigilv1.ProfileMode_PROFILE_MODE_MONITOR {
		t.Fatalf("imported %v", imported.GetProfile())
	}
	exported, err := ops.ExportProfile(ctx, &vigilv1.ExportProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: testDigest}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := profile.Decode("export", exported.GetYaml())
	if err != nil || doc.Metadata.Mode != profile.ModeMonitor || doc.Metadata.Version != 1 {
		t.Fatalf("exported %+v %v", doc, err)
	}
	// Re-importing the export changes nothing: no version is made.
	same, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: exported.GetYaml()})
	if err != nil || !same.GetUnchanged() || same.GetProfile().GetVersion() != 1 {
		t.Fatalf("re-import of the same content: %v %v", same, err)
	}
	// Importing against a version that is not the latest is refused.
	if _, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: exported.GetYaml(), Mode: vigilv1.ProfileMode_PROFILE_MODE_ENFORCE, ExpectVersion: 7}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("import expecting version 7: %v", err)
	}
	// A new mode is a change: version 2.
	again, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: exported.GetYaml(), Mode: vigilv1.ProfileMode_PROFILE_MODE_ENFORCE, ExpectVersion: 1})
	if err != nil || again.GetUnchanged() || again.GetProfile().GetVersion() != 2 || again.GetProfile().GetMode() != vigilv1.ProfileMode_PROFILE_MODE_ENFORCE {
		t.Fatalf("re-import in enforce: %v %v", again, err)
	}
	got, err := ops.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: 1}})
	if err != nil || len(got.GetVersions()) != 2 || got.GetProfile().GetVersion() != 1 {
		t.Fatalf("get v1: %v %v", got, err)
	}
	list, err := ops.ListProfiles(ctx, &vigilv1.ListProfilesRequest{})
	if err != nil || len(list.GetProfiles()) != 1 || list.GetProfiles()[0].GetVersion() != 2 || len(list.GetProfiles()[0].GetYaml()) != 0 {
		t.Fatalf("list: %v %v", list, err)
	}

	bad := []byte("apiVersion: vigil.dev/v1\nkind: ImageProfile\nmetadata:\n  digest: sha256:nothex\n")
	if _, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: bad}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "imported profile:4:11: metadata.digest") {
		t.Fatalf("bad import: %v", err)
	}
	if _, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{Yaml: []byte("{")}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("malformed draft: %v", err)
	}
	other := "sha256:" + strings.Repeat("2", 64)
	if _, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{ImageDigest: other, Yaml: learned(t, "node-a", "/x")}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("draft for another digest: %v", err)
	}
	if _, err := ops.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: other}}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown digest: %v", err)
	}
	if _, err := ops.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: testDigest}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no mode: %v", err)
	}
}

func TestSlowProfileWatchIsKickedNotSilentlyBehind(t *testing.T) {
	e := startEnv(t, nil)
	ps := e.c.profiles
	w := ps.watch([]string{testDigest})
	defer ps.unwatch(w)
	other := ps.watch([]string{"sha256:" + strings.Repeat("3", 64)})
	defer ps.unwatch(other)
	for v := range int64(profileWatchQueue + 1) {
		ps.publish(&vigilv1.Profile{ImageDigest: testDigest, Version: v + 1})
	}
	select {
	case <-w.kick:
	default:
		t.Fatal("a watch whose queue overflowed was not kicked")
	}
	select {
	case <-other.kick:
		t.Fatal("a watch of another digest was kicked")
	default:
	}
	if n := metric(t, e.reg, "vigil_collector_profile_watch_kicked_total"); n != 1 {
		t.Fatalf("kicked metric = %v", n)
	}
}

func TestAgentProfileWatchSurvivesCollectorRestart(t *testing.T) {
	ca := newAuthority(t)
	addr := testutil.FreeAddr(t)
	first := startEnvAt(t, ca, addr, nil)
	conn := dial(t, addr, clientTLS(t, ca, pki.Request{CommonName: "node-a", Role: pki.RoleAgent}))
	updates := make(chan *vigilv1.ProfileUpdate, 16)
	ctx, cancel := context.WithCancel(testCtx(t, 60*time.Second))
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- ship.ProfileWatch{
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
			Handle: func(u *vigilv1.ProfileUpdate) error { updates <- u; return nil },
		}.Run(ctx, conn)
	}()
	next := func() *vigilv1.ProfileUpdate {
		t.Helper()
		select {
		case u := <-updates:
			return u
		case <-time.After(20 * time.Second):
			t.Fatal("no profile update within 20s")
		}
		return nil
	}
	if !next().GetSnapshotComplete() {
		t.Fatal("empty collector: the first update must be the snapshot marker")
	}
	reportRunning(t, first.agent(t, "node-a"), testDigest)
	if _, err := first.agent(t, "node-a").SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{Yaml: learned(t, "node-a", "/usr/sbin/nginx")}); err != nil {
		t.Fatal(err)
	}
	if u := next(); u.GetProfile().GetVersion() != 1 {
		t.Fatalf("pushed %v", u)
	}
	// Stop the collector and start another on the same store and address.
	first.c.Stop(testCtx(t, 10*time.Second))
	second := startEnvWithStore(t, ca, addr, first.store)
	if _, err := second.consumer(t).SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: testDigest, Mode: vigilv1.ProfileMode_PROFILE_MODE_ENFORCE}); err != nil {
		t.Fatal(err)
	}
	// After reconnecting, the agent sees the snapshot, which has version 2
	// whether the promotion came before or after it.
	deadline := time.After(20 * time.Second)
	for found := false; !found; {
		select {
		case u := <-updates:
			found = u.GetProfile().GetVersion() == 2 && u.GetProfile().GetMode() == vigilv1.ProfileMode_PROFILE_MODE_ENFORCE
		case <-deadline:
			t.Fatal("the promotion never reached the agent after the restart")
		}
	}
	cancel()
	if err := <-watchDone; err != nil {
		t.Fatalf("watch ended with %v", err)
	}
}

// TestInheritanceNeedsAPromotedParentOfTheSameRepository: the first draft
// of a digest running on an inherited profile makes it version 1 only when
// the parent it names is a promoted version of the same repository;
// otherwise the draft is learned as the digest's own.
func TestInheritanceNeedsAPromotedParentOfTheSameRepository(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.Inherit = profile.InheritEnforce; o.DraftMinNodes = 1 })
	ctx := testCtx(t, 30*time.Second)
	ops, agent := e.consumer(t), e.agent(t, "node-a")
	if _, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: learned(t, "node-a", "/usr/sbin/nginx"),
		Mode: vigilv1.ProfileMode_PROFILE_MODE_ENFORCE}); err != nil {
		t.Fatal(err)
	}
	delta := func(image, digest, from string) *vigilv1.Profile {
		t.Helper()
		d, err := profile.NewDraft(image, digest, profile.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		d.LearnsDeltaOf(from)
		if _, err := d.Observe(profile.Observation{Kind: profile.KindExec, Path: "/bin/new", Node: "node-a", ContainerID: "c2", Time: t0}); err != nil {
			t.Fatal(err)
		}
		doc, err := profile.Encode(d.Profile())
		if err != nil {
			t.Fatal(err)
		}
		reportRunning(t, agent, digest)
		resp, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{Yaml: doc})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetProfile()
	}
	parent := profile.Ref(testDigest, 1)

	got := delta("nginx:1.28", "sha256:"+strings.Repeat("2", 64), parent)
	if got.GetVersion() != 1 || got.GetMode() != vigilv1.ProfileMode_PROFILE_MODE_ENFORCE || got.GetAuthor() != "inherit:"+parent ||
		!strings.Contains(string(got.GetYaml()), "/usr/sbin/nginx") || strings.Contains(string(got.GetYaml()), "/bin/new") {
		t.Fatalf("nginx:1.28 inheriting nginx:1.27's enforced profile: %v\n%s", got, got.GetYaml())
	}
	for _, tc := range []struct{ name, image, digit, from string }{
		{"another repository", "redis:7", "3", parent},
		{"no such version", "nginx:1.29", "4", profile.Ref(testDigest, 9)},
	} {
		got := delta(tc.image, "sha256:"+strings.Repeat(tc.digit, 64), tc.from)
		if got.GetMode() != vigilv1.ProfileMode_PROFILE_MODE_LEARN || strings.Contains(string(got.GetYaml()), "/usr/sbin/nginx") {
			t.Errorf("%s: %v\n%s", tc.name, got, got.GetYaml())
		}
	}
}

// A profile imported in learn mode before any node sent a draft is listed,
// shown and diffed on its own evidence: there are no drafts to merge yet.
func TestLearnImportBeforeAnyDraft(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 60*time.Second)
	ops := e.consumer(t)
	imported, err := ops.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: learned(t, "node-a", "/usr/sbin/nginx"), Mode: vigilv1.ProfileMode_PROFILE_MODE_LEARN})
	if err != nil || imported.GetProfile().GetVersion() != 1 {
		t.Fatalf("import in learn mode: %v %v", imported, err)
	}
	list, err := ops.ListProfiles(ctx, &vigilv1.ListProfilesRequest{})
	if err != nil || len(list.GetProfiles()) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if nr := list.GetProfiles()[0].GetNotReady(); !slices.ContainsFunc(nr, func(s string) bool { return strings.Contains(s, "learned from 1 container") }) {
		t.Errorf("not ready because %q, want the imported evidence's one container", nr)
	}
	if _, err := ops.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: testDigest}}); err != nil {
		t.Fatalf("get: %v", err)
	}
	d, err := ops.DiffProfiles(ctx, &vigilv1.DiffProfilesRequest{From: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: 1}, To: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: 1}})
	if err != nil || !d.GetEqual() {
		t.Fatalf("diff: %v %v", d, err)
	}
	// The first draft then merges on top of the import.
	agent := e.agent(t, "node-a")
	reportRunning(t, agent, testDigest)
	if _, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{Yaml: learned(t, "node-a", "/usr/sbin/nginx")}); err != nil {
		t.Fatalf("first draft after the import: %v", err)
	}
}

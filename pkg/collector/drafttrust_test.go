package collector

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// TestOneNodeCannotPoisonAProfile: nodes a and b run an image; node x, with
// a valid agent certificate, tries to teach its profile a shell and all of
// /etc, with evidence claiming a and b saw them. Every call goes over real
// mTLS gRPC, each node with its own certificate.
func TestOneNodeCannotPoisonAProfile(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 60*time.Second)
	nodeA, nodeB, nodeX, ops := e.agent(t, "node-a"), e.agent(t, "node-b"), e.agent(t, "node-x"), e.consumer(t)
	submit := func(agent vigilv1.AgentServiceClient, doc []byte) (*vigilv1.Profile, error) {
		resp, err := agent.SubmitDraft(ctx, &vigilv1.SubmitDraftRequest{ImageDigest: testDigest, Yaml: doc})
		return resp.GetProfile(), err
	}
	exec := func(node, path string) profile.Observation {
		return profile.Observation{Kind: profile.KindExec, Path: path, ContainerID: "c-" + node, Node: node, Time: t0}
	}
	// x's draft: nginx and a shell, 70 files under /etc (its learner
	// collapses them to /etc/*), all claimed as seen on nodes a and b.
	poison := []profile.Observation{exec("node-a", "/usr/sbin/nginx"), exec("node-a", "/bin/sh"), exec("node-b", "/bin/sh")}
	for i := range 70 {
		poison = append(poison, profile.Observation{Kind: profile.KindOpen, Path: fmt.Sprintf("/etc/f%d", i),
			Access: profile.AccessRead, ContainerID: "c-a", Node: "node-a", Time: t0})
	}

	// A node that never reported running the image may not submit for it.
	reportRunning(t, nodeX, "sha256:"+strings.Repeat("9", 64))
	if _, err := submit(nodeX, draftOf(t, poison...)); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("draft of an image node-x did not report running: %v", err)
	}
	if _, err := submit(e.agent(t, "node-y"), learned(t, "node-y", "/bin/sh")); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("draft from a node that never reported: %v", err)
	}
	if n := metric(t, e.reg, "vigil_collector_drafts_refused_total"); n != 2 {
		t.Errorf("refused drafts counted %v, want 2", n)
	}

	// A node that alone reports running the image, the only one with a
	// draft of it, adds nothing to its profile: it would need a second node.
	reportRunning(t, nodeA, testDigest)
	p, err := submit(nodeA, draftOf(t, exec("node-b", "/usr/sbin/nginx"), exec("node-c", "/usr/sbin/nginx")))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := profile.Decode("v1", p.GetYaml())
	if err != nil {
		t.Fatal(err)
	}
	if len(v1.Spec.Executables) != 0 || len(v1.Spec.Files) != 0 {
		t.Fatalf("node-a alone made the profile: executables %v files %v", v1.Spec.Executables, v1.Spec.Files)
	}

	// Evidence names the nodes the drafts came from, whatever they claim.
	reportRunning(t, nodeB, testDigest)
	p, err = submit(nodeB, learned(t, "node-b", "/usr/sbin/nginx"))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := profile.Decode("v2", p.GetYaml())
	if err != nil {
		t.Fatal(err)
	}
	if len(v2.Spec.Executables) != 1 {
		t.Fatalf("two nodes' nginx: executables %v", v2.Spec.Executables)
	}
	if got := v2.Spec.Executables[0].Evidence.Nodes.IDs; !slices.Equal(got, []string{"node-a", "node-b"}) {
		t.Fatalf("nginx claims nodes %v, want [node-a node-b]", got)
	}

	// x now says it runs the image: its draft is taken, but nothing only it
	// saw enters the profile, and the diff shows what it held back.
	reportRunning(t, nodeX, testDigest)
	p, err = submit(nodeX, draftOf(t, poison...))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := profile.Decode("latest", p.GetYaml())
	if err != nil {
		t.Fatal(err)
	}
	if len(latest.Spec.Executables) != 1 || len(latest.Spec.Files) != 0 {
		t.Fatalf("one node widened the profile: executables %v files %v", latest.Spec.Executables, latest.Spec.Files)
	}
	if got := latest.Spec.Executables[0].Evidence.Nodes.IDs; !slices.Equal(got, []string{"node-a", "node-b", "node-x"}) {
		t.Errorf("nginx supported by %v, want node-a, node-b, node-x", got)
	}
	diff, err := ops.DiffProfiles(ctx, &vigilv1.DiffProfilesRequest{
		From: &vigilv1.ProfileRef{ImageDigest: testDigest, Version: v2.Metadata.Version}, To: &vigilv1.ProfileRef{ImageDigest: testDigest}})
	if err != nil {
		t.Fatal(err)
	}
	want := "? executables: /bin/sh (held back: 1 node: node-x)\n? files: /etc/* (read) (held back: 1 node: node-x)\n"
	if diff.GetText() != want {
		t.Fatalf("diff v2..latest:\n%s\nwant:\n%s", diff.GetText(), want)
	}

	// Promoted, the profile says how many nodes support each entry.
	promoted, err := ops.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: testDigest,
		Mode: vigilv1.ProfileMode_PROFILE_MODE_ENFORCE, ExpectVersion: p.GetVersion()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(promoted.GetProfile().GetYaml()), "nodes: [node-a, node-b, node-x]") {
		t.Errorf("promoted profile:\n%s", promoted.GetProfile().GetYaml())
	}
}

package profile

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/pkg/textdiff"
)

var update = flag.Bool("update", false, "rewrite golden files")

// learnedProfile is a draft of two containers on two nodes that lost a few
// events, as a realistic document to encode.
func learnedProfile(tb testing.TB) *Profile {
	tb.Helper()
	d := mustDraft(tb, "docker.io/library/nginx:1.27", Limits{})
	observeAll(tb, d, "4f1c2a9be3d0aa11", "node-a", t0, workload()...)
	observeAll(tb, d, "9e8d7c6b5a4f3e2d", "node-b", t0.Add(90*time.Minute+123456789), workload()[:5]...)
	d.MarkIncomplete("ring buffer lost events", 12)
	return d.Profile()
}

func TestEncodeGolden(t *testing.T) {
	got, err := Encode(learnedProfile(t))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "learned.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoding differs from %s (run with -update if intended):\n%s", golden, textdiff.Unified(golden, "got", want, got))
	}
}

func TestRoundTrip(t *testing.T) {
	for name, p := range map[string]*Profile{
		"learned": learnedProfile(t),
		"empty":   {Metadata: Metadata{Digest: testDigest("empty")}},
		"odd strings": {
			Metadata: Metadata{Image: "reg.local:5000/a/b:1.0 # not a comment", Digest: testDigest("odd"), Mode: ModeEnforce,
				Learning: Learning{Incomplete: []IncompleteReason{{Reason: "lost: 'quoted' \"and\" more", Count: 1}}}},
			Spec: Spec{
				Executables: []ExecEntry{{Path: "/opt/my app/bin/run: now"}, {Path: "/true"}, {Path: "/123"}},
				Files:       []FileEntry{{Path: "/data/line\nbreak", Access: AccessRead}, {Path: "/- [x]", Access: AccessWrite}},
				Network:     []NetworkEntry{{Unix: "@/weird 'quoted' {x}"}},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			p.Spec.Sort() // decoding gives canonical order
			b1, err := Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			q, err := Decode("p.yaml", b1)
			if err != nil {
				t.Fatalf("decode own encoding: %v\n%s", err, b1)
			}
			if !q.Equal(p) {
				t.Errorf("decode(encode(p)) differs from p:\n%s", b1)
			}
			b2, err := Encode(q)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1, b2) {
				t.Errorf("encoding is not byte-stable:\n%s", textdiff.Unified("first", "second", b1, b2))
			}
		})
	}
}

func TestEncodeIsCanonicalWhateverTheOrder(t *testing.T) {
	p := learnedProfile(t)
	q := p.Clone()
	s := &q.Spec
	reverse(s.Executables)
	reverse(s.Files)
	reverse(s.Network)
	reverse(s.Capabilities)
	a, _ := Encode(p)
	b, _ := Encode(q)
	if !bytes.Equal(a, b) {
		t.Errorf("list order changes the encoding:\n%s", textdiff.Unified("sorted", "reversed", a, b))
	}
}

func reverse[E any](s []E) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

const validDoc = `apiVersion: vigil.dev/v1
kind: ImageProfile
metadata:
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
  mode: enforce
spec:
  executables:
    - path: /app/api
  files:
    - path: /etc/hosts
      access: read
  network:
    - address: 10.0.0.0/8
      port: 443
      protocol: tcp
  capabilities:
    - name: CAP_NET_RAW
`

func TestDecodeRejects(t *testing.T) {
	mutate := func(old, new string) string {
		if !strings.Contains(validDoc, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(validDoc, old, new, 1)
	}
	for _, tc := range []struct {
		name, doc string
		line      int
		want      string
	}{
		{"bad YAML", mutate("  mode: enforce", "  mode: enforce: now"), 5, "invalid YAML: mapping values are not allowed"},
		{"unknown field", mutate("      access: read", "      access: read\n      owner: root"), 12, "spec.files[0].owner: unknown field"},
		{"bad mode", mutate("mode: enforce", "mode: block"), 5, `metadata.mode: unknown mode "block"`},
		{"relative path", mutate("path: /app/api", "path: app/api"), 8, `spec.executables[0].path: "app/api" must be an absolute path`},
		{"bad CIDR", mutate("10.0.0.0/8", "10.0.0.0/33"), 13, `bad CIDR "10.0.0.0/33"`},
		{"host bits", mutate("10.0.0.0/8", "10.0.0.1/8"), 13, "did you mean 10.0.0.0/8?"},
		{"bad port", mutate("port: 443", "port: 70000"), 14, `bad port "70000"`},
		{"bad protocol", mutate("protocol: tcp", "protocol: sctp"), 15, `unknown protocol "sctp"`},
		{"unknown capability", mutate("CAP_NET_RAW", "CAP_TELEPORT"), 17, `unknown capability "CAP_TELEPORT"`},
		{"wrong apiVersion", mutate("vigil.dev/v1", "vigil.dev/v2"), 1, "apiVersion: want vigil.dev/v1"},
		{"wrong kind", mutate("kind: ImageProfile", "kind: Pod"), 2, "kind: want ImageProfile"},
		{"bad digest", mutate("sha256:0000", "sha256:zz00"), 4, "metadata.digest"},
		{"missing digest", mutate("  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001\n", ""), 4, "metadata.digest: required field missing"},
		{"bad access", mutate("access: read", "access: exec"), 11, `unknown access "exec"`},
		{"not UTF-8", mutate("/etc/hosts", "/etc/\xffhosts"), 0, "invalid YAML"},
		{"partial star", mutate("/etc/hosts", "/etc/host*"), 10, `must be a whole path component`},
		{"duplicate entry", mutate("    - path: /app/api", "    - path: /app/api\n    - path: /app/api"), 9, "duplicate entry (first at line 8)"},
		{"duplicate key", mutate("  mode: enforce", "  mode: enforce\n  mode: learn"), 6, "duplicate field"},
		{"two documents", validDoc + "---\n" + validDoc, 0, "more than one document"},
		{"alias", strings.Replace(mutate("  executables:\n", "  executables: &x\n"), "  capabilities:\n    - name: CAP_NET_RAW\n", "  capabilities: *x\n", 1), 16, "anchors and aliases are not supported"},
		{"empty", "", 0, "empty document"},
		{"unix with port", mutate("    - address: 10.0.0.0/8", "    - unix: /run/x.sock\n      port: 1\n    - address: 10.0.0.0/8"), 13, "a unix entry takes only unix and evidence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode("profiles/api.yaml", []byte(tc.doc))
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DocumentError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "profiles/api.yaml") {
				t.Errorf("error %q lacks the file name or %q", err, tc.want)
			}
			if tc.line > 0 && de.Problems[0].Line != tc.line {
				t.Errorf("error %q at line %d, want line %d", err, de.Problems[0].Line, tc.line)
			}
		})
	}
}

func TestDecodeHandWrittenMinimal(t *testing.T) {
	p, err := Decode("min.yaml", []byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Mode != ModeEnforce || len(p.Spec.Network) != 1 || p.Spec.Network[0].Ports != SinglePort(443) {
		t.Errorf("decoded %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("decoded profile does not validate: %v", err)
	}
}

package profilecr

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/vigil-dev/vigil/pkg/profile"
)

const digest = "sha256:4f2a9c0000000000000000000000000000000000000000000000000000000001"

func learnedProfile(t *testing.T) *profile.Profile {
	t.Helper()
	d, err := profile.NewDraft("nginx:1.27", digest, profile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, o := range []profile.Observation{
		{Kind: profile.KindExec, Path: "/usr/sbin/nginx", ContainerID: "c1", Node: "n1", Time: at},
		{Kind: profile.KindOpen, Path: "/etc/nginx/nginx.conf", Access: profile.AccessRead, ContainerID: "c1", Node: "n1", Time: at},
		{Kind: profile.KindCapability, Capability: 10, ContainerID: "c1", Node: "n1", Time: at},
	} {
		if _, err := d.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	p := d.Profile()
	p.Metadata.Version, p.Metadata.Mode = 3, profile.ModeMonitor
	return p
}

// An exported object, read back, is the profile's allowlists and mode
// with its version as expectVersion, and holds no evidence.
func TestFromProfileRoundTrip(t *testing.T) {
	p := learnedProfile(t)
	obj, err := FromProfile(p)
	if err != nil {
		t.Fatal(err)
	}
	if obj.GetName() != "sha256-4f2a9c0000000000000000000000000000000000000000000000000000000001" {
		t.Errorf("name %q", obj.GetName())
	}
	out, err := yaml.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "evidence") || strings.Contains(string(out), "learning") {
		t.Errorf("the object holds learned data:\n%s", out)
	}
	d, err := DesiredOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != digest || d.Mode != profile.ModeMonitor || d.ExpectVersion != 3 || d.Document == nil {
		t.Fatalf("desired %+v", d)
	}
	back, err := profile.Decode("back", d.Document)
	if err != nil {
		t.Fatal(err)
	}
	diff, err := profile.Compare("profile", p, "object", back)
	if err != nil || !diff.Empty() {
		t.Errorf("the object's allowlists differ from the profile's: %+v %v", diff, err)
	}
}

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	// Read as the API server's objects are: integers as int64.
	b, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := u.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDesiredOf(t *testing.T) {
	head := "apiVersion: vigil.dev/v1\nkind: ImageProfile\nmetadata: {name: sha256-4f2a9c0000000000000000000000000000000000000000000000000000000001}\n"
	modeOnly := object(t, head+"spec: {digest: "+digest+", mode: enforce}\n")
	d, err := DesiredOf(modeOnly)
	if err != nil || d.Document != nil || d.Mode != profile.ModeEnforce {
		t.Errorf("a spec without allowlists: %+v %v", d, err)
	}
	empty := object(t, head+"spec: {digest: "+digest+", mode: enforce, executables: []}\n")
	if d, err := DesiredOf(empty); err != nil || d.Document == nil {
		t.Errorf("a spec with an empty allowlist is a document allowing nothing there: %+v %v", d, err)
	}
	for _, c := range []struct{ spec, want string }{
		{"{digest: " + digest + ", mode: enforcing}", `spec.mode: unknown mode "enforcing"`},
		{"{digest: sha256:abc, mode: learn}", "spec.digest"},
		{"{digest: sha256:" + strings.Repeat("b", 64) + ", mode: learn}", "metadata.name must be"},
		{"{digest: " + digest + ", mode: learn, files: [{path: /etc/a/**, access: read, from: image}, {path: /etc/a/**, access: read, from: image}]}", "duplicate entry"},
		{"{digest: " + digest + ", mode: learn, network: [{address: 10.0.0.1/8, port: 53, protocol: udp}]}", "bits set beyond the prefix length"},
		{"{digest: " + digest + ", mode: learn, executables: [{path: '/usr/bin/{n}{n}'}]}", "spec.executables[0].path"},
	} {
		_, err := DesiredOf(object(t, head+"spec: "+c.spec+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("spec %s: error %v, want one with %q", c.spec, err, c.want)
		}
	}
}

// The CRD's enums are the profile package's names: a capability or
// io_uring operation vigil knows is accepted at kubectl apply, and one it
// does not is refused there.
func TestCRDEnumsAreTheProfileNames(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "daemonset", "base", "crds", "imageprofiles.vigil.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Properties map[string]struct {
									Items struct {
										Properties map[string]struct {
											Enum []string `json:"enum"`
										} `json:"properties"`
									} `json:"items"`
								} `json:"properties"`
							} `json:"spec"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	props := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties.Spec.Properties
	var caps, ops []string
	for c := profile.Capability(0); c <= profile.MaxCapability; c++ {
		caps = append(caps, c.String())
	}
	for op := profile.IoUringOp(0); op.Valid(); op++ {
		ops = append(ops, op.String())
	}
	ops = append(ops, profile.IoUringSetup.String())
	for _, c := range []struct {
		list, field string
		want        []string
	}{{profile.ListCapabilities, "name", caps}, {profile.ListIoUring, "op", ops}} {
		got := slices.Sorted(slices.Values(props[c.list].Items.Properties[c.field].Enum))
		if want := slices.Sorted(slices.Values(c.want)); !slices.Equal(got, want) {
			t.Errorf("%s enum %v, want %v", c.list, got, want)
		}
	}
}

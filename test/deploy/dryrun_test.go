package deploy

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/vigil-dev/vigil/test/kubeenv"
)

// TestManifestsPassServerSideDryRun sends the output of the base and of
// every overlay to a real API server with `kubectl apply --dry-run=server`:
// the server's own validation, defaulting and admission (Pod Security on
// the namespace's level, the ValidatingAdmissionPolicy objects' type
// checks) accept every object, which strict decoding alone cannot show.
// The namespaces are created for real first, as a namespaced object's dry
// run needs its namespace to exist.
func TestManifestsPassServerSideDryRun(t *testing.T) {
	e := kubeenv.Start(t)
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
			m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), dir))
			if err != nil {
				t.Fatalf("kustomize build %s: %v", dir, err)
			}
			var namespaces []string
			var want []string
			for _, res := range m.Resources() {
				if res.GetKind() == "Namespace" {
					doc, err := res.AsYAML()
					if err != nil {
						t.Fatal(err)
					}
					namespaces = append(namespaces, string(doc))
				}
				want = append(want, fmt.Sprintf("%s/%s", strings.ToLower(res.GetKind()), res.GetName()))
			}
			if len(namespaces) > 0 {
				e.KubectlInput(t, strings.Join(namespaces, "---\n"), "apply", "-f", "-")
			}
			stream, err := m.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			out := e.KubectlInput(t, string(stream), "apply", "--dry-run=server", "-f", "-")
			// One line per object: "KIND.GROUP/NAME created (server dry run)".
			for _, obj := range want {
				kind, name, _ := strings.Cut(obj, "/")
				if !dryRunReported(out, kind, name) {
					t.Errorf("kubectl apply --dry-run=server did not report %s; output:\n%s", obj, out)
				}
			}
		})
	}
}

// dryRunReported tells whether kubectl's output names the object as
// accepted in a server dry run.
func dryRunReported(out, kind, name string) bool {
	for _, line := range strings.Split(out, "\n") {
		ref, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasSuffix(rest, "(server dry run)") {
			continue
		}
		resource, objName, ok := strings.Cut(ref, "/")
		if !ok || objName != name {
			continue
		}
		if k, _, _ := strings.Cut(resource, "."); k == kind {
			return true
		}
	}
	return false
}

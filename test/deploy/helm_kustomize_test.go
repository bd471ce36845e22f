package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The images both renderings are given: as a user sets them with
// `kustomize edit set image` and with the chart's images values.
var (
	testImages = map[string]any{
		"agent":     map[string]any{"repository": "myacr.azurecr.io/vigil-agent", "tag": "v1.2.3"},
		"collector": map[string]any{"repository": "myacr.azurecr.io/vigil-collector", "tag": "v1.2.3"},
	}
	testKustomizeImages = `images:
  - name: vigil-agent
    newName: myacr.azurecr.io/vigil-agent
    newTag: v1.2.3
  - name: vigil-collector
    newName: myacr.azurecr.io/vigil-collector
    newTag: v1.2.3
`
)

// TestChartMatchesKustomize renders the chart with each overlay's
// equivalent values and builds the overlay with kustomize, and requires the
// same objects, field by field (containers, arguments, environment, volumes,
// security contexts, probes, policies, the config files' settings), after
// taking out what differs by construction: Helm's release labels,
// kustomize's hash suffix on ConfigMap names and the chart's config
// checksum annotation that replaces it.
func TestChartMatchesKustomize(t *testing.T) {
	for _, c := range []struct {
		name, dir string
		values    map[string]any
	}{
		{"learning", learningDir, learningValues},
		{"enforce", enforceDir, enforceValues},
		{"ha", haDir, haValues},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := normalized(t, buildWithImages(t, c.dir).all)
			values := merge(c.values, map[string]any{"images": testImages, "namespace": map[string]any{"create": true}})
			got := normalized(t, renderObjects(t, values).all)
			for _, key := range sortedKeys(want) {
				g, ok := got[key]
				if !ok {
					t.Errorf("%s: in kustomize build %s, not in the chart", key, c.dir)
					continue
				}
				for _, d := range diff(key, want[key], g) {
					t.Errorf("%s", d)
				}
			}
			for _, key := range sortedKeys(got) {
				if _, ok := want[key]; !ok {
					t.Errorf("%s: in the chart, not in kustomize build %s", key, c.dir)
				}
			}
		})
	}
}

// buildWithImages builds an overlay with the test's images set, from a
// kustomization in a temporary directory whose resource is the overlay.
func buildWithImages(t *testing.T, dir string) *objects {
	t.Helper()
	tmp := t.TempDir()
	// kustomize takes a base only by a relative path.
	rel, err := filepath.Rel(tmp, filepath.Join(repoRoot(t), dir))
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\n%s", rel, testKustomizeImages)
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), tmp)
	if err != nil {
		t.Fatalf("kustomize build %s with images: %v", dir, err)
	}
	o := newObjects()
	for _, res := range m.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("%s/%s: %v", res.GetKind(), res.GetName(), err)
		}
		if err := o.add(obj); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// helmLabels are the labels Helm's conventions add to a release's objects.
var helmLabels = []string{"app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "helm.sh/chart"}

// configMapHash is kustomize's content hash on a generated ConfigMap's name.
var configMapHash = regexp.MustCompile(`^(vigil-(agent|collector)-config)-[a-z0-9]{10}$`)

// normalized turns objects into maps keyed kind/namespace/name, without
// what the two renderings differ in by construction, and with each
// ConfigMap's YAML files parsed (comments and key order are not settings).
func normalized(t *testing.T, objs []runtime.Object) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		walk(m, func(parent map[string]any, key string) {
			switch v := parent[key].(type) {
			case []any:
				if key == "env" {
					checkEnvReferences(t, v)
				}
				// The API server keys these lists by name (strategic merge
				// keys); an overlay's patch puts its entries first.
				if key == "env" || key == "volumes" {
					slices.SortStableFunc(v, func(a, b any) int {
						return strings.Compare(fmt.Sprint(a.(map[string]any)["name"]), fmt.Sprint(b.(map[string]any)["name"]))
					})
				}
			case map[string]any:
				if key == "labels" {
					for _, l := range helmLabels {
						delete(v, l)
					}
				}
				if key == "annotations" {
					delete(v, "checksum/config")
					if len(v) == 0 {
						delete(parent, key)
					}
				}
			case string:
				if configMapHash.MatchString(v) && (key == "name") {
					parent[key] = configMapHash.ReplaceAllString(v, "$1")
				}
			}
		})
		kind, _ := m["kind"].(string)
		meta, _ := m["metadata"].(map[string]any)
		if kind == "ConfigMap" {
			data, _ := m["data"].(map[string]any)
			for k, v := range data {
				var parsed any
				if err := yaml.Unmarshal([]byte(v.(string)), &parsed); err != nil {
					t.Fatalf("ConfigMap %v, %s: %v", meta["name"], k, err)
				}
				data[k] = parsed
			}
		}
		out[fmt.Sprintf("%s %v/%v", kind, meta["namespace"], meta["name"])] = m
	}
	return out
}

// envReference is a $(VAR) reference in an environment variable's value.
var envReference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkEnvReferences: a $(VAR) reference expands only to a variable defined
// before it, the one thing env's order decides.
func checkEnvReferences(t *testing.T, env []any) {
	t.Helper()
	defined := map[string]bool{}
	for _, e := range env {
		e := e.(map[string]any)
		value, _ := e["value"].(string)
		for _, ref := range envReference.FindAllStringSubmatch(value, -1) {
			if !defined[ref[1]] {
				t.Errorf("env %v refers to $(%s), not defined before it", e["name"], ref[1])
			}
		}
		defined[fmt.Sprint(e["name"])] = true
	}
}

// walk calls f for every key of every map in v, depth first (children
// before the map's own keys are revisited by f).
func walk(v any, f func(parent map[string]any, key string)) {
	switch v := v.(type) {
	case map[string]any:
		for k := range v {
			walk(v[k], f)
			f(v, k)
		}
	case []any:
		for _, e := range v {
			walk(e, f)
		}
	}
}

// diff lists the paths where want and got differ.
func diff(path string, want, got any) []string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		var out []string
		keys := map[string]bool{}
		for k := range wm {
			keys[k] = true
		}
		for k := range gm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			out = append(out, diff(path+"."+k, wm[k], gm[k])...)
		}
		return out
	}
	wl, wok := want.([]any)
	gl, gok := got.([]any)
	if wok && gok && len(wl) == len(gl) {
		var out []string
		for i := range wl {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), wl[i], gl[i])...)
		}
		return out
	}
	if reflect.DeepEqual(want, got) {
		return nil
	}
	return []string{fmt.Sprintf("%s: kustomize %s, chart %s", path, jsonOf(want), jsonOf(got))}
}

func jsonOf(v any) string {
	if v == nil {
		return "(none)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

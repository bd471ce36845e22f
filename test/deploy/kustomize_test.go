package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The kustomizations that ship: the base and its overlays.
const (
	baseDir     = "deploy/daemonset/base"
	learningDir = "deploy/daemonset/overlays/learning"
	enforceDir  = "deploy/daemonset/overlays/enforce"
	// haDir: enforce, with collector replicas on PostgreSQL.
	haDir = "deploy/daemonset/overlays/ha"
)

var kustomizations = []string{baseDir, learningDir, enforceDir, haDir}

// repoRoot is the module root: go test runs in test/deploy.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found from the test's directory: %v", err)
	}
	return dir
}

// strictDecoder decodes the kinds deploy/daemonset uses into their
// k8s.io/api types, failing on an unknown or duplicated field.
var strictDecoder = sync.OnceValues(func() (runtime.Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme, admissionv1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true}), nil
})

// decodeStrict decodes one YAML document into its typed object. A
// CustomResourceDefinition is decoded as unstructured (its Go type would
// pull in the API server's modules); the real API server checks it in
// pkg/profilesync's tests.
func decodeStrict(doc []byte) (runtime.Object, error) {
	d, err := strictDecoder()
	if err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	var probe struct{ APIVersion, Kind string }
	if err := yaml.Unmarshal(doc, &probe); err == nil && probe.APIVersion == "apiextensions.k8s.io/v1" && probe.Kind == "CustomResourceDefinition" {
		u := &unstructured.Unstructured{}
		if err := yaml.UnmarshalStrict(doc, &u.Object); err != nil {
			return nil, err
		}
		return u, nil
	}
	obj, _, err := d.Decode(doc, nil, nil)
	return obj, err
}

// splitDocuments splits a multi-document YAML stream, dropping empty
// documents (a file that is only comments).
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if len(probe) > 0 {
			docs = append(docs, doc)
		}
	}
}

// objects is the output of one kustomize build, decoded.
type objects struct {
	all         []runtime.Object
	namespaces  []*corev1.Namespace
	accounts    map[string]*corev1.ServiceAccount
	configMaps  map[string]*corev1.ConfigMap
	daemonSets  map[string]*appsv1.DaemonSet
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	claims      map[string]*corev1.PersistentVolumeClaim
	policies    map[string]*networkingv1.NetworkPolicy
	admission   map[string]*admissionv1.ValidatingAdmissionPolicy
	bindings    map[string]*admissionv1.ValidatingAdmissionPolicyBinding
	budgets     map[string]*policyv1.PodDisruptionBudget
	crds        map[string]*unstructured.Unstructured
	roles       map[string]*rbacv1.Role
	roleBinds   map[string]*rbacv1.RoleBinding
	cRoles      map[string]*rbacv1.ClusterRole
	cRoleBinds  map[string]*rbacv1.ClusterRoleBinding
}

// build runs kustomize (its library, as `kustomize build` does) on a
// directory of the repository and decodes every object strictly.
func build(t testing.TB, dir string) *objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := newObjects()
	for _, res := range m.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("kustomize build %s: %s/%s does not decode strictly: %v", dir, res.GetKind(), res.GetName(), err)
		}
		if err := o.add(obj); err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
	}
	return o
}

func newObjects() *objects {
	return &objects{accounts: map[string]*corev1.ServiceAccount{}, configMaps: map[string]*corev1.ConfigMap{},
		daemonSets: map[string]*appsv1.DaemonSet{}, deployments: map[string]*appsv1.Deployment{},
		services: map[string]*corev1.Service{}, claims: map[string]*corev1.PersistentVolumeClaim{},
		policies: map[string]*networkingv1.NetworkPolicy{}, admission: map[string]*admissionv1.ValidatingAdmissionPolicy{},
		bindings: map[string]*admissionv1.ValidatingAdmissionPolicyBinding{}, budgets: map[string]*policyv1.PodDisruptionBudget{},
		crds:  map[string]*unstructured.Unstructured{},
		roles: map[string]*rbacv1.Role{}, roleBinds: map[string]*rbacv1.RoleBinding{},
		cRoles: map[string]*rbacv1.ClusterRole{}, cRoleBinds: map[string]*rbacv1.ClusterRoleBinding{}}
}

func (o *objects) add(obj runtime.Object) error {
	o.all = append(o.all, obj)
	switch v := obj.(type) {
	case *corev1.Namespace:
		o.namespaces = append(o.namespaces, v)
	case *corev1.ServiceAccount:
		o.accounts[v.Name] = v
	case *corev1.ConfigMap:
		o.configMaps[v.Name] = v
	case *appsv1.DaemonSet:
		o.daemonSets[v.Name] = v
	case *appsv1.Deployment:
		o.deployments[v.Name] = v
	case *corev1.Service:
		o.services[v.Name] = v
	case *corev1.PersistentVolumeClaim:
		o.claims[v.Name] = v
	case *networkingv1.NetworkPolicy:
		o.policies[v.Name] = v
	case *admissionv1.ValidatingAdmissionPolicy:
		o.admission[v.Name] = v
	case *admissionv1.ValidatingAdmissionPolicyBinding:
		o.bindings[v.Name] = v
	case *policyv1.PodDisruptionBudget:
		o.budgets[v.Name] = v
	case *unstructured.Unstructured:
		o.crds[v.GetName()] = v
	case *rbacv1.Role:
		o.roles[v.Name] = v
	case *rbacv1.RoleBinding:
		o.roleBinds[v.Name] = v
	case *rbacv1.ClusterRole:
		o.cRoles[v.Name] = v
	case *rbacv1.ClusterRoleBinding:
		o.cRoleBinds[v.Name] = v
	default:
		return fmt.Errorf("unexpected kind %T", obj)
	}
	return nil
}

// TestManifestFilesDecodeStrictly reads every file under deploy/daemonset:
// kustomization.yaml files into kustomize's Kustomization, config/*.yaml
// (checked against the commands' flags in config_test.go) as plain YAML,
// everything else, document by document, into its k8s.io/api type. No file
// is left unread.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	root := filepath.Join(repoRoot(t), "deploy", "daemonset")
	var objectsRead int
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case filepath.Ext(path) == ".md":
		case filepath.Base(path) == "kustomization.yaml":
			var k types.Kustomization
			if err := yaml.UnmarshalStrict(data, &k); err != nil {
				t.Errorf("%s: %v", rel, err)
			}
		case filepath.Base(filepath.Dir(path)) == "config":
			var m map[string]any
			if err := yaml.UnmarshalStrict(data, &m); err != nil {
				t.Errorf("%s: %v", rel, err)
			}
		case filepath.Ext(path) == ".yaml":
			docs, err := splitDocuments(data)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				return nil
			}
			for i, doc := range docs {
				if _, err := decodeStrict(doc); err != nil {
					t.Errorf("%s, document %d: %v", rel, i+1, err)
				}
				objectsRead++
			}
		default:
			t.Errorf("%s: not a manifest, a kustomization, a config file or a README", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if objectsRead < 10 {
		t.Errorf("read %d objects: the walk missed the manifests", objectsRead)
	}
}

// TestStrictDecodingRejectsUnknownFields shows the decoder the other tests
// rely on fails on a misspelled field rather than dropping it.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {prots: [{port: 1}]}\n",
		"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec: {template: {spec: {hostPid: true}}}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("decoded %q without an error", doc)
		}
	}
	if _, err := decodeStrict([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1}]}\n")); err != nil {
		t.Errorf("a valid Service: %v", err)
	}
}

// TestKustomizeBuilds builds the base and both overlays and checks each has
// every object the deployment needs, once.
func TestKustomizeBuilds(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := build(t, dir)
			claims, budgets := 1, 0
			if dir == haDir {
				claims, budgets = 0, 1 // the store is PostgreSQL; replicas have a disruption budget
			}
			if len(o.namespaces) != 1 || o.namespaces[0].Name != "vigil" {
				t.Errorf("namespaces: %v", o.namespaces)
			}
			for _, c := range []struct {
				kind      string
				got, want int
			}{
				{"ServiceAccount", len(o.accounts), 2}, {"ConfigMap", len(o.configMaps), 2},
				{"DaemonSet", len(o.daemonSets), 1}, {"Deployment", len(o.deployments), 1},
				{"Service", len(o.services), 1}, {"PersistentVolumeClaim", len(o.claims), claims},
				{"NetworkPolicy", len(o.policies), 1}, {"PodDisruptionBudget", len(o.budgets), budgets},
				{"ValidatingAdmissionPolicy", len(o.admission), 2}, {"ValidatingAdmissionPolicyBinding", len(o.bindings), 2},
				{"CustomResourceDefinition", len(o.crds), 1}, {"Role", len(o.roles), 2}, {"RoleBinding", len(o.roleBinds), 2},
				{"ClusterRole", len(o.cRoles), 5}, {"ClusterRoleBinding", len(o.cRoleBinds), 2},
			} {
				if c.got != c.want {
					t.Errorf("%d %s objects, want %d", c.got, c.kind, c.want)
				}
			}
			for _, obj := range o.all {
				if ns := namespaceOf(obj); ns != "vigil" && !clusterScoped(obj) {
					t.Errorf("%T in namespace %q, want vigil", obj, ns)
				}
			}
		})
	}
}

func namespaceOf(obj runtime.Object) string {
	if m, ok := obj.(interface{ GetNamespace() string }); ok {
		return m.GetNamespace()
	}
	return ""
}

// clusterScoped tells the kinds that live in no namespace.
func clusterScoped(obj runtime.Object) bool {
	switch obj.(type) {
	case *corev1.Namespace, *admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding,
		*unstructured.Unstructured, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
		return true
	}
	return false
}

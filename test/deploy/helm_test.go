package deploy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// chartDir is vigil's Helm chart, beside the kustomize base.
const chartDir = "deploy/helm/vigil"

// kubeVersion is the Kubernetes the chart is rendered for: the version the
// repository's API server (test/kube) builds.
const kubeVersion = "v1.37.2"

// releaseNamespace is the namespace the chart is rendered into: the base's.
const releaseNamespace = "vigil"

// Values sets of the chart that the tests render. Each overlay's
// equivalent is what deploy/helm/vigil/values.yaml's header says.
var (
	learningValues = map[string]any{}
	enforceValues  = map[string]any{
		"mode":          map[string]any{"default": "monitor"},
		"agent":         map[string]any{"fanotify": true},
		"imageApproval": map[string]any{"validationActions": []any{"Deny"}},
	}
	haValues = merge(enforceValues, map[string]any{
		"collector": map[string]any{"replicas": 3, "store": map[string]any{"type": "postgres"}},
	})
	monitoringValues = map[string]any{
		"serviceMonitor":   map[string]any{"enabled": true},
		"prometheusRule":   map[string]any{"enabled": true},
		"grafanaDashboard": map[string]any{"enabled": true},
	}
)

// merge is a deep merge of value sets, later ones winning.
func merge(sets ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, s := range sets {
		for k, v := range s {
			if m, ok := v.(map[string]any); ok {
				if prev, ok := out[k].(map[string]any); ok {
					out[k] = merge(prev, m)
					continue
				}
				out[k] = merge(m)
				continue
			}
			out[k] = v
		}
	}
	return out
}

func chartKubeVersion(t testing.TB) *common.KubeVersion {
	t.Helper()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// renderChart renders the chart as `helm template --namespace vigil` does
// (Helm's own loader, schema validation and engine) with these values on top
// of values.yaml, returning the rendered files by template name.
func renderChart(t testing.TB, values map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(filepath.Join(repoRoot(t), chartDir))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *chartKubeVersion(t)
	top, err := chartutil.ToRenderValuesWithSchemaValidation(ch, merge(values),
		common.ReleaseOptions{Name: "vigil", Namespace: releaseNamespace, Revision: 1, IsInstall: true}, caps, false)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	return engine.Render(ch, top)
}

// rendered is the chart's output: the kinds test/deploy decodes strictly,
// as for kustomize, and the Prometheus Operator's, which k8s.io/api lacks.
type rendered struct {
	*objects
	monitoring map[string]*unstructured.Unstructured // by kind/name
}

// renderObjects renders and decodes every object, failing the test on any
// error.
func renderObjects(t testing.TB, values map[string]any) *rendered {
	t.Helper()
	files, err := renderChart(t, values)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	r := &rendered{objects: newObjects(), monitoring: map[string]*unstructured.Unstructured{}}
	// helm install applies crds/ as they are, before the templates.
	ch, err := loader.Load(filepath.Join(repoRoot(t), chartDir))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	for _, crd := range ch.CRDObjects() {
		obj, err := decodeStrict(crd.File.Data)
		if err != nil {
			t.Fatalf("%s: %v", crd.Filename, err)
		}
		if err := r.add(obj); err != nil {
			t.Fatalf("%s: %v", crd.Filename, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		docs, err := splitDocuments([]byte(files[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, doc := range docs {
			var u unstructured.Unstructured
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if u.GroupVersionKind().Group == "monitoring.coreos.com" {
				r.monitoring[u.GetKind()+"/"+u.GetName()] = &u
				continue
			}
			obj, err := decodeStrict(doc)
			if err != nil {
				t.Fatalf("%s: %s/%s does not decode strictly: %v", name, u.GetKind(), u.GetName(), err)
			}
			if err := r.add(obj); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	return r
}

// TestChartLints runs Helm's linter (what `helm lint --strict` runs) on the
// chart with its default values and each variant the other tests render:
// no warning, no error.
func TestChartLints(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": learningValues, "enforce": enforceValues, "ha": haValues,
		"monitoring": merge(haValues, monitoringValues),
	} {
		t.Run(name, func(t *testing.T) {
			res := lint.RunAll(filepath.Join(repoRoot(t), chartDir), merge(values), releaseNamespace,
				lint.WithKubeVersion(chartKubeVersion(t)))
			for _, m := range res.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestChartRefusesSQLiteReplicas: more than one collector replica on the
// embedded store would corrupt nothing only by luck (one SQLite file, one
// writer, a ReadWriteOnce volume); the chart refuses it with the fix.
func TestChartRefusesSQLiteReplicas(t *testing.T) {
	_, err := renderChart(t, map[string]any{"collector": map[string]any{"replicas": 2}})
	if err == nil {
		t.Fatal("rendered 2 collector replicas on sqlite")
	}
	for _, want := range []string{"collector.replicas is 2", "collector.store.type=postgres"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := renderChart(t, map[string]any{"collector": map[string]any{"replicas": 2, "store": map[string]any{"type": "postgres"}}}); err != nil {
		t.Errorf("2 replicas on postgres: %v", err)
	}
}

// TestChartSchemaRefusesBadValues: values.schema.json stops a misspelled key
// or a mode the agent does not know before anything renders.
func TestChartSchemaRefusesBadValues(t *testing.T) {
	for _, c := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"mode": map[string]any{"default": "enforcing"}}, "mode"},
		{map[string]any{"mode": map[string]any{"namespaces": map[string]any{"shop": "audit"}}}, "shop"},
		{map[string]any{"agent": map[string]any{"tolerations": "all"}}, "tolerations"},
		{map[string]any{"collector": map[string]any{"store": map[string]any{"type": "mysql"}}}, "store"},
		{map[string]any{"serviceMonitr": map[string]any{"enabled": true}}, "serviceMonitr"},
		{map[string]any{"images": map[string]any{"agent": map[string]any{"digest": "latest"}}}, "digest"},
	} {
		_, err := renderChart(t, c.values)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("values %v: error %v, want one naming %q", c.values, err, c.want)
		}
	}
}

// TestChartSettingsReachTheCommands renders values the overlays do not
// cover (a default mode, modes per namespace, extra settings for both
// commands, images by digest) and settles each container's arguments,
// environment and config file with the real flag sets, as the commands do
// at start.
func TestChartSettingsReachTheCommands(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	r := renderObjects(t, map[string]any{
		"mode":  map[string]any{"default": "enforce", "namespaces": map[string]any{"kube-system": "monitor", "dev": "learn"}},
		"agent": map[string]any{"config": map[string]any{"dedup-window": "2m", "approved-images-action": "enforce"}},
		"collector": map[string]any{"config": map[string]any{"retention-age": "48h"},
			"replicas": 2, "store": map[string]any{"type": "postgres"}},
		"images": map[string]any{"agent": map[string]any{"repository": "myacr.azurecr.io/vigil-agent", "digest": digest}},
	})
	ds, c := agentDaemonSet(t, r.objects)
	if want := "myacr.azurecr.io/vigil-agent@" + digest; c.Image != want {
		t.Errorf("agent image %s, want %s", c.Image, want)
	}
	fs, rf := agentFlags()
	settle(t, fs, r.objects, &ds.Spec.Template.Spec, c, c.Args[1:], agentEnvPrefix)
	cfg, err := rf.AgentConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the agent would refuse its settings: %v", err)
	}
	if cfg.Modes.Default != profile.ModeEnforce || len(cfg.Modes.Namespaces) != 2 ||
		cfg.Modes.Namespaces["kube-system"] != profile.ModeMonitor || cfg.Modes.Namespaces["dev"] != profile.ModeLearn {
		t.Errorf("modes %+v, want enforce by default, kube-system monitor, dev learn", cfg.Modes)
	}
	if cfg.DedupWindow != 2*time.Minute || cfg.Approval.Action != approval.ActionEnforce {
		t.Errorf("agent.config did not win: dedup window %v, approved-images-action %v", cfg.DedupWindow, cfg.Approval.Action)
	}

	d, cc := collectorDeployment(t, r.objects)
	cfs, f := collectorFlags()
	settle(t, cfs, r.objects, &d.Spec.Template.Spec, cc, cc.Args, collectorEnvPrefix)
	if err := f.Config.Validate(); err != nil {
		t.Fatalf("the collector would refuse its settings: %v", err)
	}
	if f.Config.Retention.MaxAge != 48*time.Hour {
		t.Errorf("retention-age %v, want collector.config's 48h", f.Config.Retention.MaxAge)
	}
	checkCollectorStore(t, r.objects, d, cc, f.Config.Store)
	if len(r.claims) != 0 {
		t.Errorf("claims %v with the postgres store", sortedKeys(r.claims))
	}
}

// TestChartMonitoringObjects: with monitoring on, each ServiceMonitor
// selects a Service of the chart, in its namespace, by a port that Service
// has; without it, no Service for the agents' metrics exists.
func TestChartMonitoringObjects(t *testing.T) {
	if r := renderObjects(t, learningValues); len(r.monitoring) != 0 || r.services["vigil-agent"] != nil {
		t.Errorf("monitoring off renders %v and agent Service %v", sortedKeys(r.monitoring), r.services["vigil-agent"] != nil)
	}
	r := renderObjects(t, merge(learningValues, monitoringValues))
	for _, name := range []string{"vigil-agent", "vigil-collector"} {
		sm, ok := r.monitoring["ServiceMonitor/"+name]
		if !ok {
			t.Errorf("no ServiceMonitor %s", name)
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		var matched []string
		for _, svc := range r.services {
			if labelsMatch(sel, svc.Labels) {
				matched = append(matched, svc.Name)
			}
		}
		if len(matched) != 1 || matched[0] != name {
			t.Errorf("ServiceMonitor %s selects Services %v, want %s", name, matched, name)
			continue
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		for _, e := range endpoints {
			port := e.(map[string]any)["port"]
			if !slices.ContainsFunc(r.services[name].Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == port }) {
				t.Errorf("ServiceMonitor %s scrapes port %v, which Service %s lacks", name, port, name)
			}
		}
		// The Service must select the pods whose metrics it names.
		svc := r.services[name]
		var podLabels map[string]string
		if name == "vigil-agent" {
			podLabels = r.daemonSets[name].Spec.Template.Labels
		} else {
			podLabels = r.deployments[name].Spec.Template.Labels
		}
		if !labelsMatch(svc.Spec.Selector, podLabels) {
			t.Errorf("Service %s selects %v, not the pods (%v)", name, svc.Spec.Selector, podLabels)
		}
	}
	if _, ok := r.monitoring["PrometheusRule/vigil"]; !ok {
		t.Error("no PrometheusRule")
	}
	rule := r.monitoring["PrometheusRule/vigil"]
	if rule != nil && strings.Contains(fmt.Sprint(rule.Object), "VigilEnforcementDegraded") {
		t.Error("VigilEnforcementDegraded in a chart where every image learns: it would fire on every node without fanotify")
	}
	// One namespace judged is enough for the alert to mean something.
	r = renderObjects(t, merge(learningValues, monitoringValues, map[string]any{"mode": map[string]any{"namespaces": map[string]any{"shop": "enforce"}}}))
	if rule := r.monitoring["PrometheusRule/vigil"]; rule == nil || !strings.Contains(fmt.Sprint(rule.Object), "VigilEnforcementDegraded") {
		t.Error("no VigilEnforcementDegraded with namespace shop enforced")
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

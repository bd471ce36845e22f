package deploy

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/vigil-dev/vigil/test/kubeenv"
)

// monitoringCRDs are minimal copies of the Prometheus Operator's
// ServiceMonitor and PrometheusRule CRDs (monitoring.coreos.com/v1), which the
// test API server lacks: the fields the chart sets, with the operator's names
// and types, and no others. The operator's own CRDs (thousands of lines of
// schema) are not vendored; with these, kubectl's strict field validation
// still refuses a field the operator does not have in the parts the chart
// uses.
const monitoringCRDs = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [selector]
              properties:
                jobLabel: {type: string}
                namespaceSelector:
                  type: object
                  properties:
                    any: {type: boolean}
                    matchNames: {type: array, items: {type: string}}
                selector:
                  type: object
                  properties:
                    matchLabels: {type: object, additionalProperties: {type: string}}
                endpoints:
                  type: array
                  items:
                    type: object
                    properties:
                      port: {type: string}
                      path: {type: string}
                      interval: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                      relabelings:
                        type: array
                        items:
                          type: object
                          properties:
                            sourceLabels: {type: array, items: {type: string}}
                            targetLabel: {type: string}
                            action: {type: string}
                            regex: {type: string}
                            replacement: {type: string}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                groups:
                  type: array
                  items:
                    type: object
                    required: [name]
                    properties:
                      name: {type: string, minLength: 1}
                      interval: {type: string}
                      rules:
                        type: array
                        items:
                          type: object
                          required: [expr]
                          properties:
                            alert: {type: string}
                            record: {type: string}
                            expr: {x-kubernetes-int-or-string: true}
                            for: {type: string}
                            labels: {type: object, additionalProperties: {type: string}}
                            annotations: {type: object, additionalProperties: {type: string}}
`

// TestChartPassesServerSideDryRun sends the chart's output, for its default
// values and each overlay's equivalent with monitoring on, to a real API
// server with `kubectl apply --dry-run=server`: the server's validation
// (strict field validation included), defaulting and admission accept every
// object. The ServiceMonitors and PrometheusRule are checked against the
// minimal CRDs above, not the operator's.
func TestChartPassesServerSideDryRun(t *testing.T) {
	e := kubeenv.Start(t)
	e.Apply(t, monitoringCRDs)
	e.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
	for name, values := range map[string]map[string]any{
		"defaults": learningValues, "enforce": enforceValues, "ha": merge(haValues, monitoringValues),
		"monitoring": merge(learningValues, monitoringValues),
	} {
		t.Run(name, func(t *testing.T) {
			files, err := renderChart(t, merge(values, map[string]any{"namespace": map[string]any{"create": true}}))
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			var docs []string
			var want []*unstructured.Unstructured
			for _, file := range slices.Sorted(maps.Keys(files)) {
				split, err := splitDocuments([]byte(files[file]))
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				for _, doc := range split {
					var u unstructured.Unstructured
					if err := yaml.Unmarshal(doc, &u.Object); err != nil {
						t.Fatalf("%s: %v", file, err)
					}
					if u.GetKind() == "Namespace" {
						// A namespaced object's dry run needs its namespace.
						e.Apply(t, string(doc))
						continue
					}
					docs = append(docs, string(doc))
					want = append(want, &u)
				}
			}
			stream := filepath.Join(t.TempDir(), "chart.yaml")
			if err := os.WriteFile(stream, []byte(strings.Join(docs, "---\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			out := e.Kubectl(t, "apply", "--dry-run=server", "-f", stream)
			for _, u := range want {
				if !serverDryRunAccepted(out, u.GetKind(), u.GetName()) {
					t.Errorf("kubectl apply --dry-run=server did not accept %s/%s; output:\n%s", u.GetKind(), u.GetName(), out)
				}
			}
			if len(want) < 10 {
				t.Errorf("%d objects sent: the render is incomplete", len(want))
			}
		})
	}
}

// serverDryRunAccepted tells whether kubectl's output has the object's line
// ("KIND.GROUP/NAME created (server dry run)").
func serverDryRunAccepted(out, kind, name string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		ref, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasSuffix(rest, "(server dry run)") {
			continue
		}
		resource, objName, ok := strings.Cut(ref, "/")
		if !ok || objName != name {
			continue
		}
		if k, _, _ := strings.Cut(resource, "."); k == strings.ToLower(kind) {
			return true
		}
	}
	return false
}

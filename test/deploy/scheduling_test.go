package deploy

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestLinuxNodesOnly checks, in what kustomize renders for the base and
// each overlay, that the agent and the collector run on Linux nodes only:
// the agent tolerates every taint, so without the selector it would be
// scheduled onto a cluster's Windows nodes too.
func TestLinuxNodesOnly(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := build(t, dir)
			pods := map[string]corev1.PodSpec{}
			for name, ds := range o.daemonSets {
				pods["DaemonSet "+name] = ds.Spec.Template.Spec
			}
			for name, d := range o.deployments {
				pods["Deployment "+name] = d.Spec.Template.Spec
			}
			if len(pods) != 2 {
				t.Fatalf("found %d workloads, want the agent's DaemonSet and the collector's Deployment", len(pods))
			}
			for name, spec := range pods {
				if got := spec.NodeSelector[corev1.LabelOSStable]; got != "linux" {
					t.Errorf("%s: nodeSelector %s = %q, want linux (all: %v)", name, corev1.LabelOSStable, got, spec.NodeSelector)
				}
			}
		})
	}
}

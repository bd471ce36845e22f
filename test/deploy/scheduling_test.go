package deploy

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
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

// TestCollectorReplicasSurviveANode checks what the ha overlay renders: the
// replicas prefer different nodes (anti-affinity and spread by host name),
// and a PodDisruptionBudget that selects exactly the collector's pods lets
// a voluntary disruption (a drain, an upgrade) take one replica at a time,
// never all: with 3 replicas, at most 1 unavailable, or at least 1 left.
func TestCollectorReplicasSurviveANode(t *testing.T) {
	o := build(t, haDir)
	d, _ := collectorDeployment(t, o)
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Fatalf("the ha overlay runs %v collector replicas", d.Spec.Replicas)
	}
	replicas := int(*d.Spec.Replicas)
	pod := d.Spec.Template
	selects := func(sel *metav1.LabelSelector) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		return err == nil && !s.Empty() && s.Matches(labels.Set(pod.Labels))
	}
	var spreadByHost, antiByHost bool
	for _, c := range pod.Spec.TopologySpreadConstraints {
		spreadByHost = spreadByHost || (c.TopologyKey == corev1.LabelHostname && c.MaxSkew == 1 && selects(c.LabelSelector))
	}
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			antiByHost = antiByHost || (w.PodAffinityTerm.TopologyKey == corev1.LabelHostname && selects(w.PodAffinityTerm.LabelSelector))
		}
		if len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			t.Error("required anti-affinity leaves replicas, and a rolling update's surge pod, Pending on a small cluster")
		}
	}
	if !spreadByHost || !antiByHost {
		t.Errorf("replicas spread by host %v, anti-affine by host %v: want both, selecting the collector's pods", spreadByHost, antiByHost)
	}
	if len(o.budgets) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(o.budgets))
	}
	for name, b := range o.budgets {
		if !selects(b.Spec.Selector) {
			t.Errorf("PodDisruptionBudget %s does not select the collector's pods", name)
		}
		if agent := o.daemonSets["vigil-agent"]; agent != nil {
			if s, err := metav1.LabelSelectorAsSelector(b.Spec.Selector); err == nil && s.Matches(labels.Set(agent.Spec.Template.Labels)) {
				t.Errorf("PodDisruptionBudget %s selects the agents too", name)
			}
		}
		var down int
		switch {
		case b.Spec.MaxUnavailable != nil && b.Spec.MinAvailable == nil:
			v, err := intstr.GetScaledValueFromIntOrPercent(b.Spec.MaxUnavailable, replicas, true)
			if err != nil {
				t.Fatal(err)
			}
			down = v
		case b.Spec.MinAvailable != nil && b.Spec.MaxUnavailable == nil:
			v, err := intstr.GetScaledValueFromIntOrPercent(b.Spec.MinAvailable, replicas, true)
			if err != nil {
				t.Fatal(err)
			}
			down = replicas - v
		default:
			t.Fatalf("PodDisruptionBudget %s sets both or neither of minAvailable and maxUnavailable", name)
		}
		if down < 1 || down >= replicas {
			t.Errorf("PodDisruptionBudget %s lets %d of %d replicas down at once: want at least 1 (drains must proceed) and fewer than all", name, down, replicas)
		}
	}
}

package deploy

import (
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// agentCapabilities is the agent's whole capability set, measured (see
// deploy/daemonset/README.md, "The agent's privileges"): loading and
// attaching the tp_btf and LSM programs and the ring buffer (BPF, PERFMON),
// reading other processes' /proc/<pid>/ns and exe (SYS_PTRACE), resolving a
// cgroup id with open_by_handle_at (DAC_READ_SEARCH), and the cgroup connect
// programs of the connect enforcement tier (NET_ADMIN).
var agentCapabilities = []corev1.Capability{"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "NET_ADMIN"}

// enforceCapabilities adds, in the enforce overlay only, SYS_ADMIN for the
// fanotify listener that enforces file opens on nodes without BPF LSM.
var enforceCapabilities = append(slices.Clone(agentCapabilities), "SYS_ADMIN")

// The host paths the agent reads, and where the DaemonSet mounts them.
var agentHostPaths = map[string]string{
	"/run/containerd":     "/run/containerd",
	"/proc":               "/host/proc",
	"/sys/fs/cgroup":      "/sys/fs/cgroup",
	"/sys/fs/bpf":         "/sys/fs/bpf",
	"/sys/kernel/btf":     "/sys/kernel/btf",
	"/sys/kernel/tracing": "/sys/kernel/tracing",
	"/var/lib/vigil":      "/var/lib/vigil",
	"/var/log/vigil":      "/var/log/vigil",
}

func agentDaemonSet(t *testing.T, o *objects) (*appsv1.DaemonSet, *corev1.Container) {
	t.Helper()
	ds, ok := o.daemonSets["vigil-agent"]
	if !ok {
		t.Fatal("no vigil-agent DaemonSet")
	}
	return ds, onlyContainer(t, &ds.Spec.Template.Spec)
}

func collectorDeployment(t *testing.T, o *objects) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d, ok := o.deployments["vigil-collector"]
	if !ok {
		t.Fatal("no vigil-collector Deployment")
	}
	return d, onlyContainer(t, &d.Spec.Template.Spec)
}

func onlyContainer(t *testing.T, spec *corev1.PodSpec) *corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 || len(spec.EphemeralContainers) != 0 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(spec.Containers), len(spec.InitContainers))
	}
	return &spec.Containers[0]
}

// TestAgentSecurity checks the agent's pod against what the README
// promises: the exact capabilities, never privileged, host pid namespace,
// probes, resources, every node, critical priority, the host paths.
func TestAgentSecurity(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ds, c := agentDaemonSet(t, build(t, dir))
			pod := &ds.Spec.Template.Spec
			if !pod.HostPID {
				t.Error("hostPID is off: kernel events carry host pids")
			}
			if pod.HostNetwork || pod.HostIPC {
				t.Errorf("hostNetwork %v, hostIPC %v: the agent needs neither", pod.HostNetwork, pod.HostIPC)
			}
			if pod.PriorityClassName != "system-node-critical" {
				t.Errorf("priorityClassName %q", pod.PriorityClassName)
			}
			if !slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool {
				return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == ""
			}) {
				t.Errorf("tolerations %v do not tolerate every taint", pod.Tolerations)
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("the agent mounts a service account token it has no use for")
			}
			sc := c.SecurityContext
			if sc == nil || sc.Capabilities == nil {
				t.Fatal("no security context with capabilities")
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Error("privileged")
			}
			want := agentCapabilities
			if dir == enforceDir || dir == haDir {
				want = enforceCapabilities
			}
			if !slices.Equal(sc.Capabilities.Add, want) {
				t.Errorf("adds %v, want exactly %v", sc.Capabilities.Add, want)
			}
			// The API server refuses SYS_ADMIN with allowPrivilegeEscalation
			// false (ValidateSecurityContext); without it, false is required.
			sysAdmin := slices.Contains(sc.Capabilities.Add, "SYS_ADMIN")
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation != sysAdmin {
				t.Errorf("allowPrivilegeEscalation %v with SYS_ADMIN %v", sc.AllowPrivilegeEscalation, sysAdmin)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Error("root filesystem is writable")
			}
			if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("drops %v, want ALL", sc.Capabilities.Drop)
			}
			checkProbes(t, c, "metrics", 9700)
			checkResources(t, c)
			checkHostMounts(t, pod, c)
		})
	}
}

func checkHostMounts(t *testing.T, pod *corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	hostPathOf := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPathOf[v.Name] = v.HostPath.Path
		}
	}
	mounted := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		if hp, ok := hostPathOf[m.Name]; ok {
			mounted[hp] = m
		}
		// The API server refuses it for a container that is not
		// privileged (validateMountPropagation).
		if m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationBidirectional {
			t.Errorf("mount %s: Bidirectional propagation needs a privileged container", m.Name)
		}
	}
	for host, path := range agentHostPaths {
		m, ok := mounted[host]
		if !ok {
			t.Errorf("host path %s is not mounted", host)
			continue
		}
		if m.MountPath != path {
			t.Errorf("host path %s mounted at %s, want %s", host, m.MountPath, path)
		}
		writable := host == "/var/lib/vigil" || host == "/var/log/vigil" || host == "/sys/fs/bpf"
		if m.ReadOnly == writable {
			t.Errorf("host path %s: readOnly %v", host, m.ReadOnly)
		}
	}
	if len(mounted) != len(agentHostPaths) {
		t.Errorf("%d host paths mounted, want exactly %d", len(mounted), len(agentHostPaths))
	}
	if m := mounted["/sys/fs/bpf"]; m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationHostToContainer {
		t.Errorf("/sys/fs/bpf propagation %v, want HostToContainer", m.MountPropagation)
	}
}

// TestCollectorSecurity: non-root, read-only root filesystem, no
// capabilities, probes and resources.
func TestCollectorSecurity(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			d, c := collectorDeployment(t, build(t, dir))
			pod := &d.Spec.Template.Spec
			if pod.HostPID || pod.HostNetwork || pod.HostIPC {
				t.Error("the collector shares a host namespace")
			}
			for _, v := range pod.Volumes {
				if v.HostPath != nil {
					t.Errorf("volume %s is a host path", v.Name)
				}
			}
			psc, sc := pod.SecurityContext, c.SecurityContext
			if psc == nil || sc == nil {
				t.Fatal("no security context")
			}
			if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
				t.Errorf("pod runAsNonRoot %v, runAsUser %v", psc.RunAsNonRoot, psc.RunAsUser)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				t.Error("container runs as root")
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Error("privileged")
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Error("allowPrivilegeEscalation is not false")
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Error("root filesystem is writable")
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
				t.Errorf("capabilities %+v, want all dropped and none added", sc.Capabilities)
			}
			if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("no RuntimeDefault seccomp profile")
			}
			checkProbes(t, c, "http", 7080)
			checkResources(t, c)
		})
	}
}

func checkProbes(t *testing.T, c *corev1.Container, portName string, port int32) {
	t.Helper()
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString(portName) {
			t.Errorf("%s probe: %s on %s, want %s on %s", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path, portName)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == portName && p.ContainerPort == port }) {
		t.Errorf("no container port %s = %d", portName, port)
	}
}

func checkResources(t *testing.T, c *corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() {
			t.Errorf("%s: request %s, limit %s: both must be set", r, req.String(), lim.String())
		} else if req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s above limit %s", r, req.String(), lim.String())
		}
	}
}

// TestCollectorNetworkPolicy: the collector's pods are selected, and its
// gRPC port admits only the agents' pods and labelled consumers; no rule
// admits everyone.
func TestCollectorNetworkPolicy(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := build(t, dir)
			np, ok := o.policies["vigil-collector"]
			if !ok {
				t.Fatal("no vigil-collector NetworkPolicy")
			}
			d, _ := collectorDeployment(t, o)
			ds, _ := agentDaemonSet(t, o)
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("pod selector %v does not select the collector's pods", np.Spec.PodSelector)
			}
			if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
				t.Error("not an ingress policy")
			}
			var grpcPeers []networkingv1.NetworkPolicyPeer
			for _, rule := range np.Spec.Ingress {
				if len(rule.From) == 0 || len(rule.Ports) == 0 {
					t.Errorf("rule %+v admits every source or every port", rule)
				}
				for _, p := range rule.Ports {
					if p.Port != nil && *p.Port == intstr.FromString("grpc") {
						grpcPeers = append(grpcPeers, rule.From...)
					}
				}
			}
			var agents, consumers int
			for _, peer := range grpcPeers {
				if peer.IPBlock != nil || peer.PodSelector == nil {
					t.Errorf("gRPC peer %+v is not a pod selector", peer)
					continue
				}
				ps, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
				switch {
				case err != nil || ps.Empty():
					t.Errorf("gRPC peer %+v selects every pod", peer)
				case peer.NamespaceSelector == nil && ps.Matches(labels.Set(ds.Spec.Template.Labels)):
					agents++
				case peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchLabels)+len(peer.NamespaceSelector.MatchExpressions) > 0:
					consumers++
				default:
					t.Errorf("gRPC peer %+v is neither the agents nor labelled consumers", peer)
				}
			}
			if agents != 1 || consumers != 1 {
				t.Errorf("gRPC port admits %d agent and %d consumer selectors, want 1 and 1", agents, consumers)
			}
		})
	}
}

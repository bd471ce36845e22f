package deploy

import (
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/vigil-dev/vigil/pkg/agent"
	"github.com/vigil-dev/vigil/pkg/cliflags"
	"github.com/vigil-dev/vigil/pkg/collector"
)

// The commands' environment prefixes (cmd/vigil-agent, cmd/vigil-collector).
const (
	agentEnvPrefix     = "VIGIL_AGENT"
	collectorEnvPrefix = "VIGIL_COLLECTOR"
)

// testNodeName stands in for the downward API's spec.nodeName.
const testNodeName = "aks-nodepool1-12345678-vmss000000"

// agentFlags is `vigil-agent run`'s flag set as the command builds it: the
// run flags and the root command's persistent log flags.
func agentFlags() (*pflag.FlagSet, *agent.RunFlags) {
	fs := pflag.NewFlagSet("vigil-agent run", pflag.ContinueOnError)
	rf := agent.NewRunFlags("")
	rf.Register(fs)
	var logFlags cliflags.LogFlags
	logFlags.Register(fs, "console")
	return fs, rf
}

func collectorFlags() (*pflag.FlagSet, *collector.Flags) {
	fs := pflag.NewFlagSet("vigil-collector", pflag.ContinueOnError)
	f := collector.NewFlags()
	f.Register(fs)
	return fs, f
}

// TestExampleConfigsAreValid loads deploy/config's examples with the real
// flag sets and validates the result: every key is a flag, every value
// parses.
func TestExampleConfigsAreValid(t *testing.T) {
	root := repoRoot(t)
	fs, rf := agentFlags()
	if err := cliflags.LoadFile(fs, filepath.Join(root, "deploy/config/agent.example.yaml")); err != nil {
		t.Fatalf("agent example: %v", err)
	}
	cfg, err := rf.AgentConfig()
	if err != nil {
		t.Fatalf("agent example: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("agent example: %v", err)
	}
	if cfg.Modes.Namespaces["kube-system"] != "monitor" || cfg.Node != "worker-1" {
		t.Errorf("agent example read as %+v", cfg)
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && !f.Changed {
			t.Errorf("agent example does not show --%s", f.Name)
		}
	})

	cfs, cf := collectorFlags()
	if err := cliflags.LoadFile(cfs, filepath.Join(root, "deploy/config/collector.example.yaml")); err != nil {
		t.Fatalf("collector example: %v", err)
	}
	if err := cf.Config.Validate(); err != nil {
		t.Errorf("collector example: %v", err)
	}
	cfs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && !f.Changed {
			t.Errorf("collector example does not show --%s", f.Name)
		}
	})
}

// TestAgentSettingsOnANode settles the agent's settings the way
// `vigil-agent run` does on a node — its arguments, then its environment
// (downward API and $(VAR) references resolved as the kubelet does), then
// the ConfigMap's file — with the real flag set, and checks the result
// against the rest of the manifests.
func TestAgentSettingsOnANode(t *testing.T) {
	for dir, mode := range map[string]string{baseDir: "learn", learningDir: "learn", enforceDir: "monitor", haDir: "monitor"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := build(t, dir)
			ds, c := agentDaemonSet(t, o)
			if len(c.Args) == 0 || c.Args[0] != "run" {
				t.Fatalf("args %q do not start the run command", c.Args)
			}
			fs, rf := agentFlags()
			settle(t, fs, o, &ds.Spec.Template.Spec, c, c.Args[1:], agentEnvPrefix)
			cfg, err := rf.AgentConfig()
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the agent would refuse its settings: %v", err)
			}
			if cfg.Node != testNodeName || string(cfg.Modes.Default) != mode {
				t.Errorf("node %q, default mode %q; want %q, %q", cfg.Node, cfg.Modes.Default, testNodeName, mode)
			}
			pod := &ds.Spec.Template.Spec
			for what, p := range map[string]string{
				"state-dir": cfg.StateDir + "/", "alerts-file": cfg.AlertsFile, "proc": cfg.ProcRoot + "/",
				"containerd-socket": cfg.ContainerdSocket, "join-token-file": cfg.Collector.JoinTokenFile,
				"collector-ca": cfg.Collector.CA, "pin-dir": cfg.PinDir + "/",
			} {
				if v, _ := mountFor(pod, c, p); v == nil {
					t.Errorf("--%s %s is on no volume of the pod", what, p)
				}
			}
			if cfg.Collector.Cert != "" || cfg.Collector.Key != "" {
				t.Errorf("the agent has certificate files (%s, %s): it joins with its token", cfg.Collector.Cert, cfg.Collector.Key)
			}
			checkAgentJoinVolume(t, o, pod, c, cfg.Collector.JoinTokenFile, cfg.Collector.CA)
			if v, _ := mountFor(pod, c, cfg.PinDir+"/"); v == nil || v.HostPath == nil || v.HostPath.Path != "/sys/fs/bpf" {
				t.Errorf("--pin-dir %s is not on the host's bpffs", cfg.PinDir)
			}
			checkListenPort(t, "metrics-addr", rf.MetricsAddr, c, "metrics")
			if limit := c.Resources.Limits.Memory().Value(); rf.MemoryLimit != limit {
				t.Errorf("--memory-limit %d, want the container's memory limit, %d", rf.MemoryLimit, limit)
			}
			if goLimit, err := rf.GoMemoryLimit(); err != nil || goLimit <= 0 {
				t.Errorf("Go memory limit %d: %v", goLimit, err)
			}
			svc := o.services["vigil-collector"]
			host, port, err := net.SplitHostPort(cfg.Collector.Address)
			if err != nil || host != svc.Name+"."+svc.Namespace+".svc" || port != fmt.Sprint(servicePort(t, svc, "grpc")) {
				t.Errorf("--collector %s is not the collector Service's gRPC port", cfg.Collector.Address)
			}
			if cfg.Collector.ServerName != host {
				t.Errorf("--collector-server-name %q, want %q", cfg.Collector.ServerName, host)
			}
		})
	}
}

// TestCollectorSettingsInItsPod does the same for the collector.
func TestCollectorSettingsInItsPod(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := build(t, dir)
			d, c := collectorDeployment(t, o)
			fs, f := collectorFlags()
			settle(t, fs, o, &d.Spec.Template.Spec, c, c.Args, collectorEnvPrefix)
			cfg := f.Config
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the collector would refuse its settings: %v", err)
			}
			pod := &d.Spec.Template.Spec
			checkCollectorStore(t, o, d, c, cfg.Store)
			if dir == haDir && (d.Spec.Replicas == nil || *d.Spec.Replicas < 2) {
				t.Error("the ha overlay runs one collector replica")
			}
			files := map[string]string{"client-ca": cfg.ClientCA, "ca-key": cfg.CAKey}
			if len(cfg.ServerNames) == 0 {
				files["tls-cert"], files["tls-key"] = cfg.TLSCert, cfg.TLSKey
			} else if svc := o.services["vigil-collector"]; !slices.Contains(cfg.ServerNames, svc.Name+"."+svc.Namespace+".svc") {
				t.Errorf("--server-names %v do not name the collector's Service", cfg.ServerNames)
			}
			for what, p := range files {
				if v, _ := mountFor(pod, c, p); v == nil || v.Secret == nil || v.Secret.SecretName != "vigil-collector-tls" {
					t.Errorf("--%s %s is not from the vigil-collector-tls Secret", what, p)
				}
			}
			checkCollectorJoins(t, o, d, cfg)
			checkCollectorProfiles(t, o, d, cfg)
			checkListenPort(t, "listen", cfg.Listen, c, "grpc")
			checkListenPort(t, "http-listen", cfg.HTTPListen, c, "http")
		})
	}
}

// checkCollectorStore: the embedded store is on the PersistentVolumeClaim
// and has one replica, replaced with Recreate (SQLite has one writer, the
// volume one pod); replicas > 1 need PostgreSQL, whose DSN (a password in
// it) comes from a Secret.
func checkCollectorStore(t *testing.T, o *objects, d *appsv1.Deployment, c *corev1.Container, dsn string) {
	t.Helper()
	if db, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		if v, _ := mountFor(&d.Spec.Template.Spec, c, db); v == nil || v.PersistentVolumeClaim == nil ||
			o.claims[v.PersistentVolumeClaim.ClaimName] == nil {
			t.Errorf("--store %s is not on the PersistentVolumeClaim", db)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Error("the SQLite store needs exactly one replica, replaced with Recreate")
		}
		return
	}
	if !strings.HasPrefix(dsn, "postgres://") {
		t.Fatalf("--store %s is neither the embedded store nor PostgreSQL", dsn)
	}
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == collectorEnvPrefix+"_STORE" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil {
		t.Error("the PostgreSQL DSN is not from a Secret")
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy %s: replicas on PostgreSQL can be replaced one at a time", d.Spec.Strategy.Type)
	}
}

// settle applies a container's arguments, environment and --config file to
// fs as the command does: flags, then VIGIL_*_ variables (each must name a
// flag: an unknown one would be ignored silently), then the file.
func settle(t *testing.T, fs *pflag.FlagSet, o *objects, pod *corev1.PodSpec, c *corev1.Container, args []string, prefix string) {
	t.Helper()
	if err := fs.Parse(args); err != nil {
		t.Fatalf("arguments %q: %v", args, err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("arguments %q: unexpected %q", args, fs.Args())
	}
	known := map[string]string{}
	for _, e := range c.Env {
		if _, ok := envFlag(fs, prefix, e.Name); !ok {
			t.Errorf("environment variable %s sets no flag", e.Name)
		}
		v := expandEnv(e.Value, known)
		if e.ValueFrom != nil {
			v = valueFrom(t, pod, e, testNodeName)
		}
		known[e.Name] = v
		t.Setenv(e.Name, v)
	}
	if err := cliflags.BindEnv(fs, prefix); err != nil {
		t.Fatal(err)
	}
	file := fs.Lookup("config").Value.String()
	if file == "" {
		t.Fatal("no --config file")
	}
	v, rel := mountFor(pod, c, file)
	if v == nil || v.ConfigMap == nil {
		t.Fatalf("--config %s is not in a ConfigMap volume", file)
	}
	cm, ok := o.configMaps[v.ConfigMap.Name]
	if !ok {
		t.Fatalf("ConfigMap %s is not in the build", v.ConfigMap.Name)
	}
	data, ok := cm.Data[rel]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", cm.Name, rel)
	}
	local := filepath.Join(t.TempDir(), rel)
	if err := os.WriteFile(local, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cliflags.LoadFile(fs, local); err != nil {
		t.Fatalf("ConfigMap %s: %v", cm.Name, err)
	}
}

// valueFrom is what the kubelet gives an environment variable from the
// downward API: the node's name, or a container's memory limit in bytes.
func valueFrom(t *testing.T, pod *corev1.PodSpec, e corev1.EnvVar, nodeName string) string {
	t.Helper()
	switch from := e.ValueFrom; {
	case from.FieldRef != nil && from.FieldRef.FieldPath == "spec.nodeName":
		return nodeName
	case from.SecretKeyRef != nil && from.SecretKeyRef.Name == "vigil-collector-store" && from.SecretKeyRef.Key == "dsn":
		// The Secret the operator creates (deploy/daemonset/README.md).
		return "postgres://vigil:secret@postgres.example:5432/vigil"
	case from.ResourceFieldRef != nil && from.ResourceFieldRef.Resource == "limits.memory" && from.ResourceFieldRef.Divisor.IsZero():
		for _, c := range pod.Containers {
			if c.Name == from.ResourceFieldRef.ContainerName {
				return fmt.Sprint(c.Resources.Limits.Memory().Value())
			}
		}
		t.Fatalf("environment variable %s: no container %q", e.Name, from.ResourceFieldRef.ContainerName)
	}
	t.Fatalf("environment variable %s: only spec.nodeName and limits.memory (in bytes) are simulated", e.Name)
	return ""
}

// envRef is the kubelet's $(VAR) reference in an environment value.
var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandEnv resolves references to variables defined earlier, as the
// kubelet does; an unknown reference stays as written.
func expandEnv(s string, known map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := known[envRef.FindStringSubmatch(ref)[1]]; ok {
			return v
		}
		return ref
	})
}

// mountFor returns the volume a path in the container is on, and the path
// relative to the mount; nil when it is on none (the image's own, read-only
// filesystem).
func mountFor(pod *corev1.PodSpec, c *corev1.Container, p string) (*corev1.Volume, string) {
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	if best == nil {
		return nil, ""
	}
	for i, v := range pod.Volumes {
		if v.Name == best.Name {
			return &pod.Volumes[i], strings.TrimPrefix(path.Clean(p), best.MountPath+"/")
		}
	}
	return nil, ""
}

func checkListenPort(t *testing.T, flag, addr string, c *corev1.Container, portName string) {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("--%s %q: %v", flag, addr, err)
		return
	}
	for _, p := range c.Ports {
		if p.Name == portName {
			if port != fmt.Sprint(p.ContainerPort) {
				t.Errorf("--%s %s, but container port %s is %d", flag, addr, portName, p.ContainerPort)
			}
			return
		}
	}
	t.Errorf("no container port %s for --%s", portName, flag)
}

func servicePort(t *testing.T, svc *corev1.Service, name string) int32 {
	t.Helper()
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return p.Port
		}
	}
	t.Fatalf("Service %s has no port %s", svc.Name, name)
	return 0
}

// envFlag returns the flag an environment variable sets, as
// cliflags.BindEnv reads it; false when it sets none.
func envFlag(fs *pflag.FlagSet, prefix, env string) (string, bool) {
	name, ok := strings.CutPrefix(env, prefix+"_")
	if !ok {
		return "", false
	}
	flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	return flag, fs.Lookup(flag) != nil && cliflags.EnvName(prefix, flag) == env
}

// TestEnvFlagCatchesMisspelling: BindEnv ignores a variable that names no
// flag, so settle must catch it.
func TestEnvFlagCatchesMisspelling(t *testing.T) {
	fs, _ := agentFlags()
	for env, want := range map[string]bool{
		"VIGIL_AGENT_DEFAULT_MODE": true, "VIGIL_AGENT_NODE_NAME": true, "VIGIL_AGENT_LOG_FORMAT": true,
		"VIGIL_AGENT_DEFAULT_MDOE": false, "VIGIL_COLLECTOR_STORE": false, "VIGIL_AGENT_default_mode": false,
	} {
		if _, got := envFlag(fs, agentEnvPrefix, env); got != want {
			t.Errorf("%s sets a flag: %v, want %v", env, got, want)
		}
	}
}

// checkAgentJoinVolume: the agent's token is a projected ServiceAccount
// token for the collector's audience, short-lived, and its CA comes from the
// vigil-ca Secret, both on one read-only volume.
func checkAgentJoinVolume(t *testing.T, o *objects, pod *corev1.PodSpec, c *corev1.Container, tokenFile, caFile string) {
	t.Helper()
	_, collectorCfg := settledCollector(t, o)
	v, tokenPath := mountFor(pod, c, tokenFile)
	if v == nil || v.Projected == nil {
		t.Fatalf("--join-token-file %s is not on a projected volume", tokenFile)
	}
	var token *corev1.ServiceAccountTokenProjection
	var ca *corev1.SecretProjection
	for _, src := range v.Projected.Sources {
		if src.ServiceAccountToken != nil && src.ServiceAccountToken.Path == tokenPath {
			token = src.ServiceAccountToken
		}
		if src.Secret != nil {
			ca = src.Secret
		}
	}
	switch {
	case token == nil:
		t.Errorf("%s is not the volume's ServiceAccount token", tokenFile)
	case token.Audience != collectorCfg.Join.Audience:
		t.Errorf("token audience %q, the collector wants %q", token.Audience, collectorCfg.Join.Audience)
	case token.ExpirationSeconds == nil || *token.ExpirationSeconds > 3600:
		t.Errorf("token lifetime %v s, want at most an hour", token.ExpirationSeconds)
	}
	caVolume, caPath := mountFor(pod, c, caFile)
	if caVolume != v || ca == nil || ca.Name != "vigil-ca" || len(ca.Items) != 1 || ca.Items[0].Path != caPath {
		t.Errorf("--collector-ca %s is not the vigil-ca Secret's CA on the join volume", caFile)
	}
}

// settledCollector is the collector's Deployment and its settled settings.
func settledCollector(t *testing.T, o *objects) (*appsv1.Deployment, collector.Config) {
	t.Helper()
	d, c := collectorDeployment(t, o)
	fs, f := collectorFlags()
	settle(t, fs, o, &d.Spec.Template.Spec, c, c.Args, collectorEnvPrefix)
	return d, f.Config
}

// checkCollectorJoins: the collector serves joins to the agents' namespace
// and ServiceAccount, and its own account may do what a join needs: create
// tokenreviews, get the agents' pods.
func checkCollectorJoins(t *testing.T, o *objects, d *appsv1.Deployment, cfg collector.Config) {
	t.Helper()
	ds, _ := agentDaemonSet(t, o)
	if !cfg.Join.Enabled || cfg.Join.Namespace != ds.Namespace || cfg.Join.ServiceAccount != ds.Spec.Template.Spec.ServiceAccountName {
		t.Errorf("joins %v for %s/%s, want on for the agents' %s/%s", cfg.Join.Enabled, cfg.Join.Namespace, cfg.Join.ServiceAccount,
			ds.Namespace, ds.Spec.Template.Spec.ServiceAccountName)
	}
	pod := &d.Spec.Template.Spec
	if cfg.Kubeconfig == "" && (pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken) {
		t.Error("the collector uses its in-cluster API token but does not mount it")
	}
	account := rbacv1.Subject{Kind: "ServiceAccount", Name: pod.ServiceAccountName, Namespace: d.Namespace}
	if !allowed(o, account, "", "authentication.k8s.io", "tokenreviews", "create") {
		t.Errorf("%s may not create tokenreviews", account.Name)
	}
	if !allowed(o, account, cfg.Join.Namespace, "", "pods", "get") {
		t.Errorf("%s may not get pods in %s", account.Name, cfg.Join.Namespace)
	}
}

// checkCollectorProfiles: with --profile-crds, the collector's account may
// do what keeping ImageProfiles in step needs, promote included (the object
// it creates for an enforced profile is in enforce mode), and the policy
// that asks for promote is there and denies.
func checkCollectorProfiles(t *testing.T, o *objects, d *appsv1.Deployment, cfg collector.Config) {
	t.Helper()
	if !cfg.ProfileCRDs {
		t.Fatal("the collector does not keep ImageProfiles in step (--profile-crds)")
	}
	account := rbacv1.Subject{Kind: "ServiceAccount", Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: d.Namespace}
	for _, verb := range []string{"list", "watch", "create", "promote"} {
		if !allowed(o, account, "", "vigil.dev", "imageprofiles", verb) {
			t.Errorf("%s may not %s imageprofiles", account.Name, verb)
		}
	}
	if !allowed(o, account, "", "vigil.dev", "imageprofiles/status", "update") {
		t.Errorf("%s may not update imageprofiles/status", account.Name)
	}
	b, ok := o.bindings["vigil-profile-promote"]
	if _, has := o.admission["vigil-profile-promote"]; !has || !ok || b.Spec.PolicyName != "vigil-profile-promote" ||
		!slices.Equal(b.Spec.ValidationActions, []admissionv1.ValidationAction{admissionv1.Deny}) {
		t.Errorf("no ValidatingAdmissionPolicy vigil-profile-promote bound with Deny: %+v", b)
	}
}

// allowed says whether the rendered RBAC lets subject do verb on resource
// (of group) in namespace ("": cluster-wide).
func allowed(o *objects, subject rbacv1.Subject, namespace, group, resource, verb string) bool {
	grants := func(rules []rbacv1.PolicyRule) bool {
		return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
		})
	}
	rulesOf := func(ref rbacv1.RoleRef, ns string) []rbacv1.PolicyRule {
		switch ref.Kind {
		case "ClusterRole":
			if r, ok := o.cRoles[ref.Name]; ok {
				return r.Rules
			}
		case "Role":
			if r, ok := o.roles[ref.Name]; ok && r.Namespace == ns {
				return r.Rules
			}
		}
		return nil
	}
	for _, b := range o.cRoleBinds {
		if slices.Contains(b.Subjects, subject) && grants(rulesOf(b.RoleRef, "")) {
			return true
		}
	}
	for _, b := range o.roleBinds {
		if namespace != "" && b.Namespace == namespace && slices.Contains(b.Subjects, subject) && grants(rulesOf(b.RoleRef, b.Namespace)) {
			return true
		}
	}
	return false
}

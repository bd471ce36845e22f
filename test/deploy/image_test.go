package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
	containerdtest "github.com/vigil-dev/vigil/test/containerd"
	"github.com/vigil-dev/vigil/test/kubeenv"
	"github.com/vigil-dev/vigil/test/testutil"
)

// testTimeout bounds the whole in-container test: every wait shares it.
const testTimeout = 50 * time.Second

// markerFile is what the workload reads: a path no other container opens.
const markerFile = "/etc/vigil-deploy-marker"

// TestImagesRunAsDeployed runs the Dockerfile's images in a real containerd
// the way the learning overlay deploys them: the collector as its
// Deployment says (non-root, read-only root, no capabilities), the agent as
// its DaemonSet says (host pid namespace, exactly its capabilities, its
// host paths, RuntimeDefault seccomp, its ConfigMap, the node name from the
// downward API, its projected ServiceAccount token), against a real API
// server with the overlay applied: the agent joins with the token alone and
// the collector checks it as its own ServiceAccount, with the overlay's
// RBAC. A busybox workload in the same containerd reads a marker file: the
// agent must see it, attribute it to the workload's image digest and ship
// the draft to the collector over mutual TLS, as the pod's node. Promoted to monitor, the workload's next new
// behaviour must come back as an alert naming its container and pod.
func TestImagesRunAsDeployed(t *testing.T) {
	testutil.RequireRoot(t)
	kube := kubeenv.Start(t)
	kube.Kubectl(t, "apply", "--server-side", "-k", filepath.Join(repoRoot(t), learningDir))
	deadline := time.Now().Add(testTimeout)
	agentImage, collectorImage := loadImage(t, "vigil-agent"), loadImage(t, "vigil-collector")
	bpffs := privateBPFFS(t) // before containerd: unmounted after the agent is gone
	o := build(t, learningDir)
	ds, agentContainer := agentDaemonSet(t, o)
	dep, collectorContainer := collectorDeployment(t, o)

	d := containerdtest.Start(t)
	ns := containerdtest.DefaultNamespace
	busybox := containerdtest.BusyboxImage(t)
	for _, img := range []containerdtest.Image{agentImage.Image, collectorImage.Image, busybox} {
		d.Import(t, ns, img)
	}

	certs := t.TempDir()
	if _, err := pki.WriteSetup(certs, pki.Setup{ServerNames: []string{"localhost"}, Consumers: []string{"admin"}, ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// The agent's pod, as the DaemonSet controller would make it on the
	// node; the kubelet would write its token.
	kube.Apply(t, "apiVersion: v1\nkind: Node\nmetadata: {name: "+testNodeName+"}\n")
	kube.Apply(t, `apiVersion: v1
kind: Pod
metadata: {name: vigil-agent-x, namespace: vigil}
spec:
  serviceAccountName: vigil-agent
  automountServiceAccountToken: false
  nodeName: `+testNodeName+`
  containers: [{name: agent, image: vigil-agent}]
`)
	agentToken := kube.ServiceAccountToken(t, "vigil", ds.Spec.Template.Spec.ServiceAccountName, "vigil-agent-x", "vigil", time.Hour)
	collectorFiles := readFiles(t, certs, pki.CAFile, pki.CAKeyFile)
	collectorFiles["kubeconfig"] = kube.ServiceAccountKubeconfig(t, "vigil", dep.Spec.Template.Spec.ServiceAccountName, time.Hour)
	grpcAddr, httpAddr, metricsAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)

	data := t.TempDir()
	if err := os.Chown(data, 65532, 65532); err != nil { // what fsGroup does to the volume
		t.Fatal(err)
	}
	collectorCtr := d.Run(t, containerdtest.RunOptions{
		Image: collectorImage.Image, Namespace: ns,
		// One node here: its drafts alone make the profile, as make run's.
		// Its API server is the test's, through a kubeconfig of its own
		// ServiceAccount's token (in a cluster: the in-cluster one); its
		// serving certificate names localhost too, for the test's consumer.
		Args: append(append(collectorImage.Entrypoint, collectorContainer.Args...),
			"--listen", grpcAddr, "--http-listen", httpAddr, "--draft-min-nodes", "1",
			"--kubeconfig", "/etc/vigil/tls/kubeconfig", "--server-names", "vigil-collector.vigil.svc,localhost"),
		Labels: containerdtest.CRILabels(dep.Name+"-0", "vigil", "collector-uid", collectorContainer.Name),
		SpecOpts: containerSpec(t, &dep.Spec.Template.Spec, collectorContainer, podHost{
			volumes: map[string]string{
				"config": writeVolume(t, configMapFiles(t, o, "vigil-collector-config"), 0o444, 0),
				"tls":    writeVolume(t, collectorFiles, 0o440, 65532),
				"data":   data,
			},
		}),
	})
	waitHTTP(t, deadline, "the collector's /readyz", "http://"+httpAddr+"/readyz", collectorCtr)

	state, alerts := t.TempDir(), t.TempDir()
	agentCtr := d.Run(t, containerdtest.RunOptions{
		Image: agentImage.Image, Namespace: ns,
		Args: append(append(agentImage.Entrypoint, agentContainer.Args...),
			"--collector", grpcAddr, "--metrics-addr", metricsAddr, "--status-interval", "300ms"),
		Labels: containerdtest.CRILabels(ds.Name+"-x", "vigil", "agent-uid", agentContainer.Name),
		SpecOpts: containerSpec(t, &ds.Spec.Template.Spec, agentContainer, podHost{
			nodeName: testNodeName,
			hostPaths: map[string]string{
				"/run/containerd": d.Dir, "/var/lib/vigil": state, "/var/log/vigil": alerts,
				"/proc": "/proc", "/sys/fs/cgroup": "/sys/fs/cgroup", "/sys/fs/bpf": bpffs,
				"/sys/kernel/btf": "/sys/kernel/btf", "/sys/kernel/tracing": "/sys/kernel/tracing",
			},
			volumes: map[string]string{
				"config": writeVolume(t, configMapFiles(t, o, "vigil-agent-config"), 0o444, 0),
				"join":   writeVolume(t, map[string][]byte{"token": []byte(agentToken), "ca.pem": collectorFiles[pki.CAFile]}, 0o400, 0),
			},
		}),
	})
	waitHTTP(t, deadline, "the agent's /readyz", "http://"+metricsAddr+"/readyz", agentCtr)
	waitHTTP(t, deadline, "the agent's /healthz", "http://"+metricsAddr+"/healthz", agentCtr)

	checkHostSlice(t, deadline, "http://"+metricsAddr+"/metrics", agentCtr)

	workload := d.Run(t, containerdtest.RunOptions{
		Image: busybox, Namespace: ns,
		// nc learned on port 8: enforced, it may run (busybox's applets are
		// allowed one by one) but its connect to another port is refused.
		Args: []string{"/bin/sh", "-c", "echo x > " + markerFile + "; while :; do cat " + markerFile +
			" >/dev/null; nc -w 1 127.0.0.1 8 </dev/null; sleep 0.2; done"},
		Labels: containerdtest.CRILabels("shop-7d4b9", "shop", "shop-uid", "cart"),
	})

	consumer := testutil.ConsumerClient(t, certs, grpcAddr)
	ctx := context.Background()
	digest := busybox.ManifestDigest.String()
	var learned *vigilv1.Profile
	waitFor(t, deadline, "the workload's draft, with the marker file, at the collector", agentCtr, func() bool {
		r, err := consumer.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest}})
		if err != nil {
			return false
		}
		learned = r.Profile
		p, err := profile.Decode("collector", r.Profile.Yaml)
		if err != nil {
			t.Fatalf("profile from the collector: %v", err)
		}
		i := slices.IndexFunc(p.Spec.Files, func(f profile.FileEntry) bool { return f.Path == markerFile })
		if i < 0 || !slices.ContainsFunc(p.Spec.Executables, func(e profile.ExecEntry) bool { return e.As == "nc" }) {
			return false
		}
		ev := p.Spec.Files[i].Evidence
		if !slices.Contains(ev.Nodes.IDs, testNodeName) || !slices.ContainsFunc(ev.Containers.IDs, func(id string) bool {
			return strings.HasPrefix(workload.ID, id)
		}) {
			t.Fatalf("marker file learned with evidence %+v: want node %s, container %s", ev, testNodeName, workload.ID)
		}
		return true
	})

	if _, err := consumer.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: digest,
		Mode: vigilv1.ProfileMode_PROFILE_MODE_MONITOR, ExpectVersion: learned.Version}); err != nil {
		t.Fatalf("promote to monitor: %v", err)
	}
	var alert *vigilv1.Alert
	waitFor(t, deadline, "an alert for the workload's connect, at the collector", agentCtr, func() bool {
		// Until the promoted profile reaches the agent, each connect is
		// learned instead; one port per try keeps each new.
		workload.Exec(t, "/bin/sh", "-c", "nc -w 1 127.0.0.1 9 </dev/null; true")
		r, err := consumer.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: &vigilv1.AlertFilter{Kinds: []vigilv1.Kind{vigilv1.Kind_KIND_CONNECT}}})
		if err != nil || len(r.Alerts) == 0 {
			return false
		}
		alert = r.Alerts[0]
		return true
	})
	if alert.Node != testNodeName || alert.Container.GetId() != workload.ID || alert.Container.GetImageDigest() != digest ||
		alert.Container.GetPod() != "shop-7d4b9" || alert.Container.GetNamespace() != "shop" {
		t.Errorf("alert %v: want node %s, container %s of pod shop/shop-7d4b9, image %s", alert, testNodeName, workload.ID, digest)
	}
	checkAlertsFile(t, filepath.Join(alerts, "alerts.jsonl"), workload.ID, "KIND_CONNECT")
	// The workload's image is in none of the shipped approved repositories:
	// the deployed agent (approved-images-action: alert) says so, and lets it run.
	checkAlertsFile(t, filepath.Join(alerts, "alerts.jsonl"), workload.ID, "KIND_UNAPPROVED_IMAGE")
	checkEnforced(t, deadline, consumer, digest, workload, agentCtr)
	nodes, err := consumer.ListNodes(ctx, &vigilv1.ListNodesRequest{})
	if err != nil || len(nodes.Nodes) != 1 || nodes.Nodes[0].Node != testNodeName {
		t.Errorf("nodes at the collector: %v, %v; want %s alone", nodes, err, testNodeName)
	}
}

// checkEnforced promotes the workload's image to enforce: with the tiers
// the agent's capabilities allow, a connect outside the profile is refused
// (the cgroup connect program, which needs CAP_NET_ADMIN) and a binary
// outside it is killed at exec (bpf_send_signal); both come back as alerts.
func checkEnforced(t *testing.T, deadline time.Time, consumer vigilv1.ConsumerServiceClient, digest string,
	workload, agentCtr *containerdtest.Container) {
	t.Helper()
	ctx := context.Background()
	r, err := consumer.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consumer.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: digest,
		Mode: vigilv1.ProfileMode_PROFILE_MODE_ENFORCE, ExpectVersion: r.Profile.Version}); err != nil {
		t.Fatalf("promote to enforce: %v", err)
	}
	if code, out := workload.Exec(t, "/bin/cp", "/bin/busybox", "/tmp/copied"); code != 0 {
		t.Fatalf("cp: %d %s", code, out)
	}
	actions := map[vigilv1.Action]bool{}
	waitFor(t, deadline, "the workload's connect refused and its new binary killed", agentCtr, func() bool {
		// Allowed, and alerted on as in monitor mode, until the promoted
		// profile reaches the agent.
		workload.Exec(t, "/bin/sh", "-c", "nc -w 1 127.0.0.1 9 </dev/null")
		workload.Exec(t, "/tmp/copied", "true")
		r, err := consumer.ListAlerts(ctx, &vigilv1.ListAlertsRequest{})
		if err != nil {
			return false
		}
		for _, a := range r.Alerts {
			if a.Container.GetId() == workload.ID {
				actions[a.Action] = true
			}
		}
		return actions[vigilv1.Action_ACTION_BLOCKED] && actions[vigilv1.Action_ACTION_KILLED]
	})
	if code, _ := workload.Exec(t, "/tmp/copied", "true"); code != 128+9 {
		t.Errorf("the new binary exited %d, want killed (137)", code)
	}
	if code, out := workload.Exec(t, "/bin/sh", "-c", "nc -w 1 127.0.0.1 9 </dev/null"); !strings.Contains(out, "not permitted") {
		t.Errorf("connect outside the profile: exit %d, %q; want it refused (EPERM)", code, out)
	}
}

// checkHostSlice runs a process in a cgroup of its own on the host, as a
// node's daemons run in system.slice: the agent must resolve the cgroup on
// demand (open_by_handle_at, which needs CAP_DAC_READ_SEARCH) and attribute
// its events to the host, not count them unattributed.
func checkHostSlice(t *testing.T, deadline time.Time, metricsURL string, agentCtr *containerdtest.Container) {
	t.Helper()
	slice := testutil.NewCgroup(t)
	waitFor(t, deadline, "an on-demand resolution of a host cgroup", agentCtr, func() bool {
		if out, err := slice.Command("/bin/sh", "-c", "cat /etc/hostname").CombinedOutput(); err != nil {
			t.Fatalf("process in a host cgroup: %v: %s", err, out)
		}
		return metricValue(t, metricsURL, `vigil_containers_on_demand_total{kind="host"}`) > 0
	})
	if n := metricValue(t, metricsURL, `vigil_containers_unattributed_total{reason="lookup_error"}`); n > 0 {
		t.Errorf("%v cgroup lookups failed; output of the agent:\n%s", n, agentCtr.Output.String())
	}
}

// metricValue scrapes one sample of the agent's /metrics; 0 when absent.
func metricValue(t *testing.T, url, sample string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			return f
		}
	}
	return 0
}

// checkAlertsFile: the agent's --alerts-file on its hostPath holds an
// alert of kind about the workload.
func checkAlertsFile(t *testing.T, file, containerID, kind string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the agent's alerts file on the host: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var a struct {
			Kind      string `json:"kind"`
			Container struct {
				ID string `json:"id"`
			} `json:"container"`
		}
		if json.Unmarshal(sc.Bytes(), &a) == nil && a.Container.ID == containerID && a.Kind == kind {
			return
		}
	}
	t.Errorf("no alert of kind %s about container %s in %s:\n%s", kind, containerID, file, data)
}

// privateBPFFS mounts a bpffs of the test's own, standing in for the
// host's /sys/fs/bpf: the agent's pinned enforcement must neither meet nor
// release that of another agent on this machine. Unmounting it at cleanup
// drops the pins and detaches what they held.
func privateBPFFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount bpffs: %v", err)
		}
	})
	return dir
}

func configMapFiles(t *testing.T, o *objects, prefix string) map[string][]byte {
	t.Helper()
	for name, cm := range o.configMaps {
		if strings.HasPrefix(name, prefix+"-") {
			files := map[string][]byte{}
			for k, v := range cm.Data {
				files[k] = []byte(v)
			}
			return files
		}
	}
	t.Fatalf("no ConfigMap %s", prefix)
	return nil
}

func readFiles(t *testing.T, dir string, names ...string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = data
	}
	return files
}

// waitHTTP waits for url to answer 200, failing with the container's
// output if it does not (or the container stops).
func waitHTTP(t *testing.T, deadline time.Time, what, url string, c *containerdtest.Container) {
	t.Helper()
	waitFor(t, deadline, what, c, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitFor polls cond until it holds, failing at deadline with the output of
// the container the wait depends on.
func waitFor(t *testing.T, deadline time.Time, what string, c *containerdtest.Container, cond func() bool) {
	t.Helper()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; output of %s:\n%s", what, c.ID, c.Output.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

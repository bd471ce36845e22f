package posture

import (
	"fmt"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func baseSpec() *specs.Spec {
	caps := slices.Clone(RuntimeDefaultCapabilities)
	return &specs.Spec{
		Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Effective: caps, Bounding: caps}},
		Root:    &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/hosts", Options: []string{"rbind"}},
			{Destination: "/data", Type: "bind", Source: "/var/lib/kubelet/pods/uid/volumes/kubernetes.io~empty-dir/data", Options: []string{"rbind"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.MountNamespace}, {Type: specs.UTSNamespace}},
			MaskedPaths: []string{"/proc/kcore"},
		},
	}
}

func TestRuntimeDefaultsMeetBaseline(t *testing.T) {
	r := Assess(baseSpec())
	want := []Finding{RunAsRoot, WritableRootFS, NoSeccomp, PrivilegeEscalation}
	if !slices.Equal(r.Findings, want) || r.Level != LevelBaseline || len(r.HostMounts) != 0 {
		t.Fatalf("runtime defaults: %+v", r)
	}
	if fmt.Sprint(r.NotRestricted) != "[run_as_root privilege_escalation no_seccomp capabilities_not_dropped]" {
		t.Fatalf("not restricted because %v", r.NotRestricted)
	}
}

func TestRestricted(t *testing.T) {
	s := baseSpec()
	s.Process.User.UID = 1000
	s.Process.NoNewPrivileges = true
	s.Process.Capabilities.Effective = []string{"CAP_NET_BIND_SERVICE"}
	s.Root.Readonly = true
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	r := Assess(s)
	if len(r.Findings) != 0 || r.Level != LevelRestricted {
		t.Fatalf("restricted: %+v", r)
	}
	orig := Assess(baseSpec())
	copied := orig
	copied.WithProfile(nil)
	if !slices.Equal(orig.Findings, []Finding{RunAsRoot, WritableRootFS, NoSeccomp, PrivilegeEscalation}) || !copied.Has(UnusedCapabilities) {
		t.Fatalf("WithProfile on a copy changed the original: %v, copy %v", orig.Findings, copied.Findings)
	}
	r.WithProfile(nil)
	if !slices.Equal(r.Findings, []Finding{UnusedCapabilities}) || !slices.Equal(r.UnusedCapabilities, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Fatalf("with a profile that used nothing: %+v", r)
	}
	r.WithProfile([]string{"CAP_NET_BIND_SERVICE"})
	if len(r.Findings) != 0 {
		t.Fatalf("with a profile that used it: %+v", r)
	}
}

func TestPrivilegedHostEverything(t *testing.T) {
	s := baseSpec()
	all := slices.Clone(RuntimeDefaultCapabilities)
	for i := range 27 {
		all = append(all, fmt.Sprintf("CAP_X%d", i))
	}
	all = append(all, "CAP_SYS_ADMIN")
	s.Process.Capabilities.Effective = all
	s.Linux.MaskedPaths = nil
	s.Linux.Namespaces = s.Linux.Namespaces[3:]
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/host/run", Type: "bind", Source: "/run/containerd", Options: []string{"rbind"}},
		specs.Mount{Destination: "/cfg", Source: "/etc/kubernetes/", Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/logs", Type: "bind", Source: "/var/log/app"})
	r := Assess(s)
	want := []Finding{Privileged, RunAsRoot, AddedCapabilities, WritableRootFS, HostPID, HostNetwork, HostIPC,
		HostPathMount, SensitiveHostMount, RuntimeSocketMount, NoSeccomp, PrivilegeEscalation}
	if !slices.Equal(r.Findings, want) || r.Level != LevelPrivileged || len(r.HostMounts) != 3 {
		t.Fatalf("privileged: %+v", r)
	}
	if fmt.Sprint(r.NotBaseline) != "[privileged host_pid host_network host_ipc host_path_mount]" {
		t.Fatalf("not baseline because %v", r.NotBaseline)
	}
}

func TestAddedCapabilityBeyondBaseline(t *testing.T) {
	s := baseSpec()
	s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_SYS_PTRACE")
	r := Assess(s)
	if r.Level != LevelPrivileged || !slices.Equal(r.AddedCapabilities, []string{"CAP_SYS_PTRACE"}) ||
		fmt.Sprint(r.NotBaseline) != "[capabilities_added:CAP_SYS_PTRACE]" {
		t.Fatalf("SYS_PTRACE added: %+v", r)
	}
	prev := Assess(baseSpec())
	if w := r.Worse(prev); !slices.Equal(w, []Finding{AddedCapabilities}) {
		t.Fatalf("worse than the runtime default: %v", w)
	}
	if w := prev.Worse(r); len(w) != 0 {
		t.Fatalf("the runtime default worse than SYS_PTRACE added: %v", w)
	}
}

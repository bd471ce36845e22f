package containers

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const hexID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestSpecCgroupPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{in: "/k8s.io/" + hexID, want: "/k8s.io/" + hexID},
		{in: "/kubepods/besteffort/pod123/" + hexID, want: "/kubepods/besteffort/pod123/" + hexID},
		{in: "/default//c1/", want: "/default/c1"},
		{
			in:   "kubepods-besteffort-pod123.slice:cri-containerd:" + hexID,
			want: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod123.slice/cri-containerd-" + hexID + ".scope",
		},
		{in: "system.slice:docker:abc", want: "/system.slice/docker-abc.scope"},
		{in: ":vigil:abc", want: "/system.slice/vigil-abc.scope"},
		{in: "-.slice:p:abc", want: "/p-abc.scope"},
		{in: "machine.slice:p:inner.slice", want: "/machine.slice/inner.slice"},
		{in: "", wantErr: true},
		{in: "bad-.slice:p:abc", wantErr: true},
		{in: "notaslice:p:abc", wantErr: true},
		{in: "relative/path", wantErr: true},
	} {
		got, err := specCgroupPath(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("specCgroupPath(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := specCgroupPath("relative/path"); !errors.Is(err, errRelativeCgroupsPath) {
		t.Errorf("relative path: error %v, want errRelativeCgroupsPath", err)
	}
}

func TestCandidateIDs(t *testing.T) {
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/k8s.io/" + hexID, []string{hexID, "k8s.io"}},
		{"/default/my-ctr", []string{"my-ctr", "default"}},
		{
			"/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + hexID + ".scope",
			[]string{hexID, "containerd-" + hexID, "cri-containerd-" + hexID, "kubepods-pod1.slice", "kubepods.slice"},
		},
		// A cgroup the container made inside its own: the id is a parent component.
		{"/k8s.io/" + hexID + "/init", []string{hexID, "init", "k8s.io"}},
	} {
		if got := candidateIDs(tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("candidateIDs(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	long := "/" + strings.Repeat("a-", 20) + "b.scope"
	if got := candidateIDs(long); len(got) != maxCandidates {
		t.Errorf("candidateIDs of a long unit gave %d candidates, want the bound %d", len(got), maxCandidates)
	}
}

func TestLooksLikeContainer(t *testing.T) {
	nss := []string{"k8s.io", "default"}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/", false},
		{"/system.slice/sshd.service", false},
		{"/user.slice/user-0.slice/session-1.scope", false},
		{"/init.scope", false},
		{"/k8s.io/" + hexID, true},
		{"/default/web", true},
		{"/default", false}, // the namespace's parent cgroup itself
		{"/kubepods/besteffort/pod1/" + hexID, true},
		{"/kubepods.slice/kubepods-burstable.slice", true},
		{"/system.slice/docker-" + hexID + ".scope", true},
		{"/other/web", false},
	} {
		if got := looksLikeContainer(tc.path, nss); got != tc.want {
			t.Errorf("looksLikeContainer(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		p, dir string
		want   bool
	}{
		{"/k8s.io/abc", "/k8s.io/abc", true},
		{"/k8s.io/abc/sub", "/k8s.io/abc", true},
		{"/k8s.io/abcd", "/k8s.io/abc", false},
		{"/k8s.io", "/k8s.io/abc", false},
	} {
		if got := within(tc.p, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.p, tc.dir, got, tc.want)
		}
	}
}

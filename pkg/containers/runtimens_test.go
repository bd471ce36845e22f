package containers

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/test/testutil"
)

// listenerEnv makes the test binary a stand-in for containerd: it listens
// on the socket named by the variable, says so, and serves until killed.
const listenerEnv = "VIGIL_CONTAINERS_TEST_LISTEN"

func TestMain(m *testing.M) {
	if socket := os.Getenv(listenerEnv); socket != "" {
		ln, err := net.Listen("unix", socket)
		if err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("listening\n")
		for {
			conn, err := ln.Accept()
			if err != nil {
				os.Exit(0)
			}
			conn.Close()
		}
	}
	os.Exit(m.Run())
}

// TestRuntimeMountNamespaceIsContainerds runs a stand-in for containerd in
// a mount namespace of its own: the namespace found from its socket is its,
// not the test's nor the node's initial one.
func TestRuntimeMountNamespaceIsContainerds(t *testing.T) {
	testutil.RequireRoot(t)
	socket := filepath.Join(t.TempDir(), "containerd.sock")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), listenerEnv+"="+socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "listening\n" {
		t.Fatalf("stand-in containerd: %q, %v", line, err)
	}

	want, err := procfs.MountNamespace(procfs.DefaultRoot, uint32(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if own := testutil.RuntimeMountNamespace(t); want == own {
		t.Fatalf("the stand-in shares the test's mount namespace %d: the test proves nothing", own)
	}
	got, err := RuntimeMountNamespace(socket, procfs.DefaultRoot)
	if err != nil || got != want {
		t.Fatalf("RuntimeMountNamespace = %d, %v; want the stand-in's %d", got, err, want)
	}
	if _, err := RuntimeMountNamespace(filepath.Join(t.TempDir(), "none.sock"), procfs.DefaultRoot); err == nil {
		t.Error("a socket nobody listens on gave a namespace")
	}
}

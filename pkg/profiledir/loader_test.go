package profiledir

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var (
	digestAPI = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("api")))
	digestWeb = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("web")))
)

// profileDoc is a valid profile document for digest at version.
func profileDoc(digest string, version int) string {
	return fmt.Sprintf(`apiVersion: vigil.dev/v1
kind: ImageProfile
metadata:
  image: shop/api
  digest: %s
  version: %d
  mode: monitor
spec:
  executables:
    - path: /app/api
  files:
    - path: /etc/hosts
      access: read
  network:
    - address: 10.0.0.0/8
      port: 443
      protocol: tcp
  capabilities: []
`, digest, version)
}

type loaderEnv struct {
	dir  string
	l    *Loader
	reg  *prometheus.Registry
	logs *observer.ObservedLogs
}

func newLoaderEnv(t *testing.T, opts ...Option) *loaderEnv {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	e := &loaderEnv{dir: t.TempDir(), reg: prometheus.NewRegistry(), logs: logs}
	l, err := New(e.dir, zap.New(core), e.reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.l = l
	return e
}

func (e *loaderEnv) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *loaderEnv) version(t *testing.T, digest string) int64 {
	t.Helper()
	p, ok := e.l.Profiles().Get(digest)
	if !ok {
		t.Fatalf("no profile in force for %s", digest)
	}
	return p.Metadata.Version
}

// rejected reads the rejected-files counter for a reason from the registry.
func (e *loaderEnv) rejected(t *testing.T, reason string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_profile_files_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestLoaderKeepsPreviousProfileOnBadInput(t *testing.T) {
	e := newLoaderEnv(t)
	e.write(t, "api.yaml", profileDoc(digestAPI, 1))
	e.write(t, "web.yaml", profileDoc(digestWeb, 1))
	e.write(t, "README.md", "not a profile")
	if err := e.l.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := e.l.Profiles().Len(); n != 2 {
		t.Fatalf("%d profiles in force, want 2", n)
	}
	good := profileDoc(digestAPI, 1)
	for i, tc := range []struct{ name, content, want string }{
		{"bad YAML", "apiVersion: [vigil", "invalid YAML"},
		{"unknown field", strings.Replace(good, "  mode: monitor", "  mode: monitor\n  owner: alice", 1), "metadata.owner: unknown field"},
		{"bad mode", strings.Replace(good, "mode: monitor", "mode: block", 1), `unknown mode "block"`},
		{"relative path", strings.Replace(good, "path: /app/api", "path: app/api", 1), "must be an absolute path"},
		{"bad CIDR", strings.Replace(good, "10.0.0.0/8", "10.0.0.0/40", 1), `bad CIDR "10.0.0.0/40"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.write(t, "api.yaml", tc.content)
			err := e.l.Reload()
			if err == nil || !strings.Contains(err.Error(), filepath.Join(e.dir, "api.yaml")) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Reload error %v: want the file name and %q", err, tc.want)
			}
			if v := e.version(t, digestAPI); v != 1 {
				t.Errorf("version %d in force, want the previous valid one (1)", v)
			}
			if n := e.l.Profiles().Len(); n != 2 {
				t.Errorf("%d profiles in force, want 2", n)
			}
			if got := e.rejected(t, rejectInvalid); got != float64(i+1) {
				t.Errorf("rejected{invalid} = %v, want %d", got, i+1)
			}
			if r := e.l.Rejected(); len(r) != 1 || !strings.HasSuffix(r[0].File, "api.yaml") {
				t.Errorf("Rejected() = %v, want api.yaml", r)
			}
			logged := e.logs.FilterMessageSnippet("rejected").FilterField(zap.String(logKeyFile, filepath.Join(e.dir, "api.yaml")))
			if logged.Len() != i+1 {
				t.Errorf("%d rejection logs for api.yaml, want %d", logged.Len(), i+1)
			}
		})
	}
	// An unchanged bad file is neither re-counted nor re-logged.
	_ = e.l.Reload()
	if got := e.rejected(t, rejectInvalid); got != 5 {
		t.Errorf("rescanning an unchanged bad file counted again: %v", got)
	}
	e.write(t, "api.yaml", profileDoc(digestAPI, 2))
	if err := e.l.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := e.version(t, digestAPI); v != 2 {
		t.Errorf("version %d after a valid update, want 2", v)
	}
	if r := e.l.Rejected(); len(r) != 0 {
		t.Errorf("Rejected() = %v after the fix", r)
	}
}

func TestLoaderDigestConflictAndRemoval(t *testing.T) {
	e := newLoaderEnv(t)
	e.write(t, "api.yaml", profileDoc(digestAPI, 1))
	e.write(t, "web.yaml", profileDoc(digestWeb, 1))
	if err := e.l.Reload(); err != nil {
		t.Fatal(err)
	}
	e.write(t, "web.yaml", profileDoc(digestAPI, 7))
	err := e.l.Reload()
	if err == nil || !strings.Contains(err.Error(), "already defined by "+filepath.Join(e.dir, "api.yaml")) {
		t.Errorf("conflict error %v", err)
	}
	if e.version(t, digestAPI) != 1 || e.version(t, digestWeb) != 1 {
		t.Error("a conflicting file changed the profiles in force")
	}
	if got := e.rejected(t, rejectConflict); got != 1 {
		t.Errorf("rejected{conflict} = %v, want 1", got)
	}
	// Removing the file that held the digest lets the other one in.
	if err := os.Remove(filepath.Join(e.dir, "api.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Reload(); err != nil {
		t.Fatalf("after removal: %v", err)
	}
	if v := e.version(t, digestAPI); v != 7 {
		t.Errorf("version %d, want web.yaml's 7 once api.yaml is gone", v)
	}
	if _, ok := e.l.Profiles().Get(digestWeb); ok {
		t.Error("web.yaml's old digest still in force although the file now holds another")
	}
}

// runLoader runs l.Run until the test ends.
func runLoader(t *testing.T, l *Loader) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := l.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// waitFor waits for a change notification until cond holds.
func waitFor(t *testing.T, l *Loader, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-l.Changes():
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestLoaderFollowsFileChanges(t *testing.T) {
	e := newLoaderEnv(t, WithResync(time.Hour)) // only inotify can trigger
	e.write(t, "api.yaml", profileDoc(digestAPI, 1))
	runLoader(t, e.l)
	has := func(d string, v int64) func() bool {
		return func() bool { p, ok := e.l.Profiles().Get(d); return ok && p.Metadata.Version == v }
	}
	waitFor(t, e.l, "initial load", has(digestAPI, 1))
	e.write(t, "web.yaml", profileDoc(digestWeb, 1))
	waitFor(t, e.l, "new file", has(digestWeb, 1))
	// Editors write a temporary file and rename it over the old one.
	e.write(t, ".api.yaml.swp", profileDoc(digestAPI, 2))
	if err := os.Rename(filepath.Join(e.dir, ".api.yaml.swp"), filepath.Join(e.dir, "api.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.l, "renamed-over file", has(digestAPI, 2))
	if err := os.Remove(filepath.Join(e.dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.l, "removal", func() bool { _, ok := e.l.Profiles().Get(digestWeb); return !ok })
}

// TestLoaderFollowsConfigMapSwap lays the directory out as kubelet mounts a
// ConfigMap (files are symlinks through ..data to a timestamped directory)
// and updates it the way kubelet does: new directory, new ..data symlink
// renamed over the old one, old directory removed.
func TestLoaderFollowsConfigMapSwap(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprintf("inotify=%v", watch), func(t *testing.T) {
			opts := []Option{WithResync(time.Hour)}
			if !watch {
				opts = []Option{WithResync(50 * time.Millisecond), withoutWatch()}
			}
			e := newLoaderEnv(t, opts...)
			swap := func(gen string, content map[string]string) {
				data := filepath.Join(e.dir, "..2025_"+gen)
				if err := os.Mkdir(data, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, c := range content {
					if err := os.WriteFile(filepath.Join(data, name), []byte(c), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				tmp := filepath.Join(e.dir, "..data_tmp")
				if err := os.Symlink(filepath.Base(data), tmp); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, filepath.Join(e.dir, "..data")); err != nil {
					t.Fatal(err)
				}
				for name := range content {
					link := filepath.Join(e.dir, name)
					if _, err := os.Lstat(link); os.IsNotExist(err) {
						if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			swap("a", map[string]string{"api.yaml": profileDoc(digestAPI, 1)})
			runLoader(t, e.l)
			has := func(v int64) func() bool {
				return func() bool { p, ok := e.l.Profiles().Get(digestAPI); return ok && p.Metadata.Version == v }
			}
			waitFor(t, e.l, "initial load", has(1))
			swap("b", map[string]string{"api.yaml": profileDoc(digestAPI, 2)})
			if err := os.RemoveAll(filepath.Join(e.dir, "..2025_a")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, e.l, "swapped ConfigMap", has(2))
			swap("c", map[string]string{"api.yaml": "kind: [broken"})
			deadline := time.Now().Add(10 * time.Second)
			for e.rejected(t, rejectInvalid) == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if got := e.rejected(t, rejectInvalid); got != 1 {
				t.Fatalf("broken ConfigMap not rejected (counter %v)", got)
			}
			if v := e.version(t, digestAPI); v != 2 {
				t.Errorf("version %d after a broken update, want 2", v)
			}
		})
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-dev/vigil/test/testutil"
)

// completions completes args of vigil-agent as a shell does on TAB.
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	return testutil.Completions(t, newRootCommand(), args...)
}

func TestProfilesShowByNameAndCompletion(t *testing.T) {
	state := t.TempDir()
	nginx, redis, redis2 := digestOf("ab12"), digestOf("ab34"), digestOf("cd")
	saveDrafts(t, state, map[string]string{
		"docker.io/library/nginx:1.27": nginx, "docker.io/library/redis:7": redis, "docker.io/library/redis:8": redis2,
	})
	for name, want := range map[string]string{"nginx:1.27": nginx, "ab12ab": nginx, "sha256:ab34ab": redis, "redis:8": redis2, redis: redis} {
		out, _, err := execute(t, "profiles", "show", name, "--state-dir", state)
		if err != nil || !strings.Contains(out, "digest: "+want) {
			t.Errorf("profiles show %s: %v\n%s", name, err, out)
		}
	}
	_, _, err := execute(t, "profiles", "show", "redis", "--state-dir", state)
	if err == nil || !strings.Contains(err.Error(), `"redis" names 2 profiles`) || !strings.Contains(err.Error(), redis2+"  docker.io/library/redis:8") {
		t.Errorf("an ambiguous name: %v", err)
	}
	if _, _, err := execute(t, "profiles", "show", "postgres", "--state-dir", state); err == nil || !strings.Contains(err.Error(), "profiles list shows them") {
		t.Errorf("an unknown name: %v", err)
	}

	if got, want := completions(t, "profiles", "show", "--state-dir", state, "re"), []string{"redis:7", "redis:8"}; !slices.Equal(got, want) {
		t.Errorf("completing re: %q, want %q", got, want)
	}
	if got, want := completions(t, "profiles", "show", "--state-dir", state, "sha256:a"), []string{nginx, redis}; !slices.Equal(got, want) {
		t.Errorf("completing sha256:a: %q, want %q", got, want)
	}
	if got := completions(t, "profiles", "show", "--state-dir", state, "nginx:1.27", ""); len(got) != 0 {
		t.Errorf("a second argument offered: %q", got)
	}
	if got, want := completions(t, "trace", "--types", "exec,c"), []string{"exec,capability", "exec,connect"}; !slices.Equal(got, want) {
		t.Errorf("completing --types exec,c: %q, want %q", got, want)
	}
}

func TestProfilesListFormats(t *testing.T) {
	state := t.TempDir()
	nginx, redis := digestOf("ab12"), digestOf("cd")
	saveDrafts(t, state, map[string]string{"nginx:1.27": nginx, "redis:7": redis})

	out, _, err := execute(t, "profiles", "list", "--state-dir", state)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[1], "nginx:1.27  "+nginx+"  1 ") || !strings.HasSuffix(lines[2], " yes") {
		t.Errorf("profiles list: %v\n%s", err, out)
	}
	out, _, err = execute(t, "profiles", "list", "--state-dir", state, "-o", "json")
	var got []draftReport
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r draftReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("profiles list -o json: %v: %q", err, line)
		}
		got = append(got, r)
	}
	if err != nil || len(got) != 2 || got[0].Digest != nginx || got[0].Entries != 1 || got[1].Image != "redis:7" || !got[1].Complete ||
		time.Since(got[1].LastNewEntry) > time.Minute {
		t.Errorf("profiles list -o json: %v %+v", err, got)
	}
	out, _, err = execute(t, "profiles", "list", "--state-dir", state, "-o", "yaml")
	dec := yaml.NewDecoder(strings.NewReader(out))
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		docs = append(docs, doc)
	}
	if err != nil || len(docs) != 2 || docs[1]["digest"] != redis || docs[1]["entries"] != 1 || docs[1]["complete"] != true {
		t.Errorf("profiles list -o yaml: %v %v\n%s", err, docs, out)
	}
}

// nobody is the unprivileged user a test runs vigil-agent as.
const nobody = 65534

// asNobody runs the test binary as vigil-agent with args, as the user nobody.
// The binary is copied where nobody may run it: go test's directory is
// private.
func asNobody(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := filepath.Join(dir, "vigil-agent")
	if _, err := os.Stat(bin); err != nil {
		self, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, self, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), asAgentEnv+"=1")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestProfilesListAsAnotherUser lists the drafts of a root agent's state
// (the drafts directory 0700, its files 0600, as the agent saves them) as
// an unprivileged user: a drafts directory it may not read is an error
// saying what to do, not an empty list; in a directory it may read, a draft
// it may not read is skipped and said, and the others are listed.
func TestProfilesListAsAnotherUser(t *testing.T) {
	testutil.RequireRoot(t)
	base, err := os.MkdirTemp("", "vigil-agent-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(base, "state")
	nginx, redis := digestOf("ab12"), digestOf("cd")
	saveDrafts(t, state, map[string]string{"nginx:1.27": nginx, "redis:7": redis})
	if err := os.Chmod(state, 0o755); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := asNobody(t, base, "profiles", "list", "--state-dir", state)
	if code == 0 || !strings.Contains(stderr, "permission denied") || !strings.Contains(stderr, "run this as root") || out != "" {
		t.Errorf("profiles list of an unreadable drafts directory: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}

	drafts := filepath.Join(state, "drafts")
	nginxFile := filepath.Join(drafts, strings.ReplaceAll(nginx, ":", "_")+".draft.yaml")
	for path, mode := range map[string]os.FileMode{drafts: 0o755, nginxFile: 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code = asNobody(t, base, "profiles", "list", "--state-dir", state)
	redisFile := strings.ReplaceAll(redis, ":", "_") + ".draft.yaml"
	if code != 0 || !strings.Contains(out, nginx) || strings.Contains(out, redis) ||
		!strings.Contains(stderr, "skipped a draft") || !strings.Contains(stderr, redisFile) {
		t.Errorf("profiles list with one unreadable draft: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
}

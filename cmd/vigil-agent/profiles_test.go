package main

import (
	"slices"
	"strings"
	"testing"
)

// completions runs cobra's __complete command in-process, as a shell does
// on TAB, and returns the candidates (without descriptions).
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	out, _, err := execute(t, append([]string{"__complete"}, args...)...)
	if err != nil {
		t.Fatalf("__complete %q: %v", args, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %q: no directive line:\n%s", args, out)
	}
	var got []string
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		got = append(got, v)
	}
	return got
}

func TestProfilesShowByNameAndCompletion(t *testing.T) {
	state := t.TempDir()
	nginx, redis, redis2 := digestOf("ab12"), digestOf("ab34"), digestOf("cd")
	saveDrafts(t, state, map[string]string{
		"docker.io/library/nginx:1.27": nginx, "docker.io/library/redis:7": redis, "docker.io/library/redis:8": redis2,
	})
	for name, want := range map[string]string{"nginx:1.27": nginx, "ab1": nginx, "sha256:ab3": redis, "redis:8": redis2, redis: redis} {
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

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBuildsForOperatorLaptops builds vigilctl for macOS and Windows, where
// operators run it: a Linux-only call (unix.TCGETS was one) breaks it there
// while every Linux build and test passes. The first run compiles the
// dependencies for each target (about a minute each on 2 cores); the build
// cache makes later runs quick. Skipped with -short.
func TestBuildsForOperatorLaptops(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds vigilctl for three targets: skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the targets: %v", err)
	}
	for _, target := range []struct{ goos, goarch string }{{"darwin", "amd64"}, {"darwin", "arm64"}, {"windows", "amd64"}} {
		t.Run(target.goos+"-"+target.goarch, func(t *testing.T) {
			cmd := exec.Command(goTool, "build", "-o", filepath.Join(t.TempDir(), "vigilctl"), ".")
			cmd.Env = append(os.Environ(), "GOOS="+target.goos, "GOARCH="+target.goarch, "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("GOOS=%s GOARCH=%s go build ./cmd/vigilctl: %v\n%s", target.goos, target.goarch, err, out)
			}
		})
	}
}

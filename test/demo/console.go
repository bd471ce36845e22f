package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-dev/vigil/pkg/pki"
)

// The defaults of vigilctl and vigil-agent status: commands name these
// addresses only when the demo's differ.
const (
	defaultCollector = "127.0.0.1:7443"
	defaultMetrics   = "127.0.0.1:9700"
)

// console tells the story: steps, what runs in the container, and the vigil
// commands that show each stage, run for real with their output.
type console struct {
	cfg   config
	out   io.Writer
	lines <-chan string // stdin, line by line, when pausing
}

func newConsole(cfg config, out io.Writer) *console {
	c := &console{cfg: cfg, out: out}
	if cfg.pause {
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		c.lines = lines
	}
	return c
}

func (c *console) step(n, of int, title string) {
	c.heading(fmt.Sprintf("%d/%d %s", n, of, title))
}

func (c *console) heading(title string) {
	fmt.Fprintf(c.out, "\n=== %s\n", title)
}

func (c *console) say(format string, args ...any) {
	fmt.Fprintf(c.out, format+"\n", args...)
}

// show prints a vigil command line and runs it, its output to the console.
func (c *console) show(ctx context.Context, args ...string) error {
	fmt.Fprintf(c.out, "\n$ %s\n", shellJoin(args))
	cmd := command(ctx, args...)
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", shellJoin(args), err)
	}
	return nil
}

// inContainer runs script in the demo's container and prints it as typed
// at the container's shell, with its output and exit code.
func (c *console) inContainer(ctx context.Context, rt *containerRuntime, script string) (string, int, error) {
	out, code, err := rt.exec(ctx, containerID, script)
	if err != nil {
		return out, code, err
	}
	fmt.Fprintf(c.out, "\n%s# %s\n", containerID, script)
	if out != "" {
		fmt.Fprint(c.out, indent(out))
	}
	why := ""
	switch code {
	case 0:
	case 137:
		why = ": SIGKILL"
	case 126:
		why = ": not permitted to run"
	}
	fmt.Fprintf(c.out, "  (exit %d%s)\n", code, why)
	return out, code, nil
}

// pause shows prompt and waits for Enter when pausing; Ctrl-C ends ctx.
func (c *console) pause(ctx context.Context, prompt string) error {
	if c.lines == nil {
		return nil
	}
	fmt.Fprintf(c.out, "\n[%s]\n", prompt)
	select {
	case <-c.lines:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *console) agent(args ...string) []string {
	return append([]string{filepath.Join(c.cfg.bin, "vigil-agent")}, args...)
}

// agentState is the agent's --state-dir.
func (c *console) agentState() string { return stateFile(c.cfg, "agent") }

func (c *console) status() []string {
	if c.cfg.metricsAddr == defaultMetrics {
		return c.agent("status")
	}
	return c.agent("status", "--metrics-addr", c.cfg.metricsAddr)
}

func (c *console) drafts(args ...string) []string {
	return c.agent(append(append([]string{"profiles"}, args...), "--state-dir", c.agentState())...)
}

func (c *console) vigilctl(args ...string) []string {
	cmd := []string{filepath.Join(c.cfg.bin, "vigilctl")}
	if c.cfg.collectorListen != defaultCollector {
		cmd = append(cmd, "--server", c.cfg.collectorListen)
	}
	if c.cfg.certs != defaultCerts() {
		cert, key := pki.ClientFiles("admin")
		cmd = append(cmd, "--ca", filepath.Join(c.cfg.certs, pki.CAFile),
			"--cert", filepath.Join(c.cfg.certs, cert), "--key", filepath.Join(c.cfg.certs, key))
	}
	return append(cmd, args...)
}

// defaultCerts is where vigilctl looks for its certificates by default.
func defaultCerts() string {
	dir, _ := os.UserConfigDir()
	return filepath.Join(dir, "vigil", "certs")
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "  " + strings.Join(lines, "\n  ") + "\n"
}

// shellJoin quotes args for a POSIX shell where they need it.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$&|;<>()*?![]{}~#\\`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}

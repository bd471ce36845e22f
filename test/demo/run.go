package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// stateMarker marks a state directory as the demo's, so that the next demo
// may empty it.
const stateMarker = ".vigil-demo"

// Intervals of the demo's agent: short, so that drafts and status show up
// within seconds (the defaults, 30 s, suit a node).
const (
	saveInterval   = "2s"
	statusInterval = "2s"
)

// stack is what the demo started, stopped in this order: the container
// (and the private containerd), the agent, then the collector, which takes
// the agent's last alerts.
type stack struct {
	rt        *containerRuntime
	agent     *daemon
	collector *daemon
}

func (s *stack) stop(c *console) error {
	var errs []error
	if s.rt != nil {
		err := s.rt.close()
		errs = append(errs, err)
		what := "the container " + containerID
		if s.rt.private != nil {
			what += " and the private containerd"
		}
		c.say("stopped %s%s", what, failed(err))
	}
	for _, d := range []*daemon{s.agent, s.collector} {
		if d != nil {
			err := d.stop()
			errs = append(errs, err)
			c.say("stopped the %s%s", d.name, failed(err))
		}
	}
	return errors.Join(errs...)
}

func failed(err error) string {
	if err != nil {
		return fmt.Sprintf(" (%v)", err)
	}
	return ""
}

// run starts everything, tells the story and stops everything, whether the
// story ends, fails or is interrupted (ctx).
func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	c := newConsole(cfg, out)
	c.say("vigil demo: one image learned, monitored and enforced on this node")
	if err := prepareState(cfg.stateDir); err != nil {
		return err
	}
	if err := ensureCerts(ctx, c); err != nil {
		return err
	}
	c.say("state and logs: %s (collector.log, agent.log, alerts.jsonl)", cfg.stateDir)
	s := &stack{}
	defer func() {
		c.say("")
		err = errors.Join(err, s.stop(c))
	}()
	digest, err := start(ctx, c, s)
	if err != nil {
		return err
	}
	return story(ctx, c, s.rt, digest)
}

// prepareState makes the state directory, emptying a previous demo's.
func prepareState(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, stateMarker)); err != nil {
			return fmt.Errorf("%s holds files that are not a demo's: choose another --state-dir", dir)
		}
		if err := removeStaleContainerd(filepath.Join(dir, "containerd")); err != nil {
			return err
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("empty the previous demo's state: %w", err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "agent"), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, stateMarker), nil, 0o644)
}

// removeStaleContainerd removes the private containerd of a demo that was
// killed before it could: its containers, mounts and directory.
func removeStaleContainerd(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	d, err := ctrd.New(dir)
	if err != nil {
		return err
	}
	if err := d.Close(logf); err != nil {
		return fmt.Errorf("remove the previous demo's containerd: %w", err)
	}
	return nil
}

// ensureCerts makes the test PKI as `make run` does when there is none.
func ensureCerts(ctx context.Context, c *console) error {
	cfg := c.cfg
	if _, err := os.Stat(filepath.Join(cfg.certs, pki.CAFile)); err != nil {
		if err := c.show(ctx, filepath.Join(cfg.bin, "vigilctl"), "certs", "--dir", cfg.certs, "--node", cfg.node); err != nil {
			return err
		}
	}
	cert, _ := pki.ClientFiles(cfg.node)
	if _, err := os.Stat(filepath.Join(cfg.certs, cert)); err != nil {
		return fmt.Errorf("%s has a CA but no agent certificate for %s; remove %s to start afresh", cfg.certs, cfg.node, cfg.certs)
	}
	return nil
}

// start brings up containerd, the image, the collector, the agent and the
// container, each in s as soon as it runs so that stop finds it. It returns
// the image's digest.
func start(ctx context.Context, c *console, s *stack) (string, error) {
	cfg := c.cfg
	fifos := stateFile(cfg, "fifo")
	var err error
	if !cfg.privateCtrd && nodeContainerd(cfg.containerdSocket) {
		c.say("containerd: the node's, at %s (namespace %s)", cfg.containerdSocket, cfg.namespace)
		s.rt, err = useContainerd(cfg.containerdSocket, cfg.namespace, fifos)
	} else {
		dir := stateFile(cfg, "containerd")
		c.say("containerd: a private one in %s (none answers at %s)", dir, cfg.containerdSocket)
		s.rt, err = startContainerd(dir, cfg.namespace, fifos)
	}
	if err != nil {
		return "", err
	}
	img, err := buildImage(cfg.stateDir)
	if err != nil {
		return "", err
	}
	if err := s.rt.importImage(ctx, img); err != nil {
		return "", err
	}
	c.say("image:      %s, built here from busybox-static, digest %s", img.Name, img.ManifestDigest)

	// One node: its drafts alone make the profile (--draft-min-nodes 1).
	s.collector, err = startDaemon("collector", filepath.Join(cfg.bin, "vigil-collector"), stateFile(cfg, "collector.log"),
		"--listen", cfg.collectorListen, "--http-listen", cfg.collectorHTTP, "--draft-min-nodes", "1",
		"--tls-cert", filepath.Join(cfg.certs, pki.ServerCertFile), "--tls-key", filepath.Join(cfg.certs, pki.ServerKeyFile),
		"--client-ca", filepath.Join(cfg.certs, pki.CAFile), "--store", "sqlite:"+stateFile(cfg, "collector.db"), "--log-format", "json")
	if err != nil {
		return "", err
	}
	if err := s.collector.waitReady(ctx, "http://"+cfg.collectorHTTP+"/readyz", 30*time.Second); err != nil {
		return "", err
	}
	c.say("collector:  %s, its store %s", cfg.collectorListen, stateFile(cfg, "collector.db"))

	cert, key := pki.ClientFiles(cfg.node)
	args := []string{"run", "--node-name", cfg.node, "--state-dir", c.agentState(), "--containerd-socket", s.rt.socket,
		"--collector", cfg.collectorListen, "--collector-server-name", "localhost",
		"--collector-cert", filepath.Join(cfg.certs, cert), "--collector-key", filepath.Join(cfg.certs, key),
		"--collector-ca", filepath.Join(cfg.certs, pki.CAFile), "--metrics-addr", cfg.metricsAddr,
		"--alerts-file", stateFile(cfg, "alerts.jsonl"), "--pin-dir=", "--save-interval", saveInterval,
		"--status-interval", statusInterval, "--log-format", "json"}
	s.agent, err = startDaemon("agent", filepath.Join(cfg.bin, "vigil-agent"), stateFile(cfg, "agent.log"), args...)
	if err != nil {
		return "", err
	}
	c.say("agent:      %s", shellJoin(c.agent(args...)))
	if err := s.agent.waitReady(ctx, "http://"+cfg.metricsAddr+"/readyz", time.Minute); err != nil {
		return "", err
	}
	c.say("\nThe agent runs; how this node's kernel lets it enforce each hook:")
	if err := c.show(ctx, c.status()...); err != nil {
		return "", err
	}

	if err := s.rt.run(ctx, imageName, containerID); err != nil {
		return "", err
	}
	c.say("\nThe container %q runs busybox httpd, serving %s on its loopback.", containerID, shopURL)
	c.say("Run your own commands in it with:\n  %s", shellJoin(s.rt.ctr("task", "exec", "--exec-id", "mine", containerID, "sh", "-c", "…")))
	return img.ManifestDigest.String(), nil
}

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vigil-dev/vigil/pkg/draftstore"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// learnProfile learns the lab's image as a user does: `vigil-agent run`
// learns the container while every loop runs once (every file of the tree
// opened), and the draft it saves, promoted, is written as a profile file
// per mode, the way a profile reaches --profiles-dir.
func (b *bench) learnProfile(bin string) (*profile.Profile, error) {
	dir, err := runDir(b)
	if err != nil {
		return nil, err
	}
	a, err := startAgent(bin, runArgs(b.lab.daemon.Address, dir, "", "--save-interval", "1s"), true)
	if err != nil {
		return nil, err
	}
	p, err := b.learnWith(a, filepath.Join(dir, "state", "drafts"))
	if err := errors.Join(err, a.stop()); err != nil {
		return nil, fmt.Errorf("learn the bench image: %w", err)
	}
	for _, mode := range []profile.Mode{profile.ModeMonitor, profile.ModeEnforce} {
		p.Metadata.Mode, p.Metadata.Version = mode, 1
		doc, err := profile.Encode(p)
		if err != nil {
			return nil, err
		}
		b.profiles[mode] = filepath.Join(b.dir, "profiles-"+string(mode))
		if err := os.MkdirAll(b.profiles[mode], 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(b.profiles[mode], "loop.yaml"), doc, 0o644); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// learnWith runs every loop once beside a learning agent and waits for the
// draft that holds all of it.
func (b *bench) learnWith(a *runningAgent, drafts string) (*profile.Profile, error) {
	if err := b.lab.start(); err != nil {
		return nil, err
	}
	if err := inForce(b, a, profile.ModeLearn, ""); err != nil {
		return nil, err
	}
	for _, w := range []struct {
		kind string
		n    int
	}{{loopOpenOne, 10}, {loopOpenMany, len(treeFiles())}, {loopExec, 5}, {loopConnect, 5}} {
		ms := strconv.Itoa(int(settleTimeout / time.Millisecond))
		done, _, err := b.lab.loopOnce(w.kind, strconv.Itoa(w.n), ms, b.listener.Addr().String())
		if err != nil {
			return nil, err
		}
		if done != w.n {
			return nil, fmt.Errorf("learning loop %s did %d of %d operations in %s", w.kind, done, w.n, settleTimeout)
		}
	}
	if _, err := a.settle(); err != nil {
		return nil, err
	}
	want := b.learned()
	var p *profile.Profile
	var missing string
	err := a.waitFor("saving a draft that allows every loop", settleTimeout, func() (bool, error) {
		ds, _, err := draftstore.Read(drafts, profile.Limits{})
		if err != nil {
			return false, err
		}
		for _, d := range ds {
			if d.Digest() == b.lab.image.ManifestDigest.String() {
				p, missing = d.Profile(), ""
				for _, o := range want {
					if ok, _ := p.Allows(o); !ok {
						missing = fmt.Sprintf("%+v", o)
						return false, nil
					}
				}
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil && missing != "" {
		err = fmt.Errorf("%w: the draft lacks %s", err, missing)
	}
	return p, err
}

// learned is what the loops do, which the learned profile must allow.
func (b *bench) learned() []profile.Observation {
	port := uint16(b.listener.Addr().(*net.TCPAddr).Port)
	obs := []profile.Observation{
		{Kind: profile.KindExec, Path: ctrd.BusyboxPath, Applet: "true"},
		{Kind: profile.KindExec, Path: loopPath},
		{Kind: profile.KindConnect, Network: profile.Destination{Addr: netip.MustParseAddr("127.0.0.1"), Port: port, Protocol: profile.TCP}},
	}
	for _, f := range treeFiles() {
		obs = append(obs, profile.Observation{Kind: profile.KindOpen, Path: f, Access: profile.AccessRead, Image: true})
	}
	return obs
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vigil-dev/vigil/pkg/draftstore"
	"github.com/vigil-dev/vigil/pkg/profile"
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
	if err := inForce(b, a, profile.ModeLearn, ""); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{loopOpenOne, "10"},
		{loopOpenMany, strconv.Itoa(len(treeFiles()))},
		{loopExec, "5"},
		{loopConnect, "5", b.listener.Addr().String()},
	} {
		if _, _, err := b.lab.runLoop(args...); err != nil {
			return nil, err
		}
	}
	if _, err := a.settle(); err != nil {
		return nil, err
	}
	// Plain entries for the conf files, an image entry per lib directory.
	wantFiles := confDirs*confFiles + libDirs
	var p *profile.Profile
	err := a.waitFor(fmt.Sprintf("saving a draft of %d file entries or more", wantFiles), settleTimeout, func() (bool, error) {
		ds, _, err := draftstore.Read(drafts, profile.Limits{})
		if err != nil {
			return false, err
		}
		for _, d := range ds {
			if d.Digest() == b.lab.image.ManifestDigest.String() {
				p = d.Profile()
				return len(p.Spec.Files) >= wantFiles && len(p.Spec.Network) > 0 && len(p.Spec.Executables) > 0, nil
			}
		}
		return false, nil
	})
	return p, err
}

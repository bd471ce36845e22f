package main

import (
	"fmt"
	"path"

	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// The image's file tree, shaped so that learning it gives a profile of
// hundreds of entries of both kinds the learner makes (pkg/profile):
// confDirs top-level directories of confFiles files each, learned file by
// file (like /etc), and libDirs directories of libFiles files each two
// levels down, learned as one image entry per directory (like a language
// runtime's modules). Every file is distinct: the "many files" loop opens
// them round-robin.
const (
	confDirs  = 8
	confFiles = 50 // under the learner's collapse threshold (64)
	libDirs   = 200
	libFiles  = 8
)

// oneFile is what the "one file" loop reopens: a file learned as itself.
var oneFile = confPath(0, 0)

// forbiddenFiles are in the image but never opened while learning: opening
// one is outside the learned profile. An agent's checks open each once, in
// turn, so that each is a first alert: a repeat within the dedup window
// would close it with a summary alert later, during some row. One agent
// runs at most 1+len(workloads) checks.
var forbiddenFiles = func() []string {
	files := make([]string, 8)
	for i := range files {
		files[i] = fmt.Sprintf("/secret/key%d", i)
	}
	return files
}()

func confPath(d, f int) string { return fmt.Sprintf("/conf%02d/f%02d", d, f) }

// treeFiles are the paths of every file the "many files" loop opens.
func treeFiles() []string {
	files := make([]string, 0, confDirs*confFiles+libDirs*libFiles)
	for d := range confDirs {
		for f := range confFiles {
			files = append(files, confPath(d, f))
		}
	}
	for d := range libDirs {
		for f := range libFiles {
			files = append(files, fmt.Sprintf("/app/lib/m%03d/f%d", d, f))
		}
	}
	return files
}

// treeLayer is the tree and the forbidden file as image files.
func treeLayer() []ctrd.File {
	var files []ctrd.File
	for _, p := range append(treeFiles(), forbiddenFiles...) {
		files = append(files, ctrd.File{Path: p[1:], Mode: 0o644, Data: []byte(path.Base(p) + "\n")})
	}
	return files
}

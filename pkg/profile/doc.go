// Package profile is vigil's model of what a container image normally does:
// one profile per image digest, holding four allowlists (executables, files,
// network destinations, capabilities), each entry with its evidence (first
// and last seen, count, distinct containers and nodes).
//
// It is the model alone: pure Go, with no dependency on the sensor, the
// kernel, logging, metrics or the file system. The agent's stages use it as
// follows:
//
//   - learning: a Draft per digest folds Observations (Draft.Observe), records
//     lost or unattributed events (Draft.MarkIncomplete), reports its
//     Stability (package draftstore persists drafts across restarts);
//   - the collector merges drafts of one digest from many nodes (Merge) and
//     shows what changed between two revisions (Compare);
//   - monitor and enforce check behaviour with Profile.Allows, which names the
//     rule that decided;
//   - ModePolicy resolves learn / monitor / enforce for a container
//     (package profiledir keeps the profiles of a directory in force).
//
// # Path patterns
//
// Executable, file and unix socket entries are absolute path patterns whose
// components are literal names or one of two wildcards, each a whole
// component: "*" matches exactly one component (/proc/*/status) and "**",
// allowed only last, matches one or more (/usr/lib/**). Inside a name,
// "{n}" is one run of decimal digits, in names with a run of at least four
// (/dev/shm/PostgreSQL.{n}; see CanonicalName). There are no partial
// globs and no escapes, so a lookup walks a trie with one map access per
// component. Abstract unix sockets are written @name and match exactly.
//
// # Generalisation
//
// A learned profile must not grow without bound. Components that vary
// between runs (all digits, long hex ids, UUIDs) are learned as "*", runs
// of digits in a name with a long one as "{n}"; files a container creates
// are learned by the directory they are created in after
// Limits.CreateThreshold distinct names (created.go); a
// directory with more than Limits.CollapseThreshold distinct children is
// collapsed to dir/* (temp files); more than Limits.NetCollapseThreshold
// hosts of one /24 (or /64) on one port and protocol collapse to that
// subnet. Each list holds at most Limits.MaxEntries entries: past that,
// new behaviour is not added and the profile is marked incomplete with the
// reason and the number of observations left out. Nothing is dropped
// silently.
//
// # Document
//
// Profiles serialise as canonical YAML (Encode): apiVersion vigil.dev/v1,
// kind ImageProfile, metadata (image, digest, version, mode, learning run)
// and spec with the four lists in sorted order, so equal profiles give equal
// bytes and two revisions diff line by line:
//
//	apiVersion: vigil.dev/v1
//	kind: ImageProfile
//	metadata:
//	  image: docker.io/library/nginx:1.27
//	  digest: sha256:…
//	  version: 3
//	  mode: monitor
//	spec:
//	  executables:
//	    - path: /usr/sbin/nginx
//	    - path: /app/plugins/*
//	      origin: written       # also a file written at run time (default: image)
//	    - path: /bin/busybox
//	      as: sh                # only as this applet of a multi-call binary
//	  files:
//	    - path: /etc/nginx/**
//	      access: read            # read, write (includes create/truncate) or readwrite
//	    - path: /usr/share/nginx/html/**
//	      access: read
//	      from: image             # only files the image ships there, unchanged
//	  network:
//	    - address: 10.96.0.10     # an address or a CIDR
//	      port: 53                # a port, a range 8000-8100, or any
//	      protocol: udp           # tcp or udp
//	    - unix: /run/nginx.sock
//	  capabilities:
//	    - name: CAP_NET_BIND_SERVICE
//	  ioUring:                    # absent: io_uring is refused
//	    - op: SETUP               # setting up a ring
//	    - op: READ                # an opcode submitted, IORING_OP_ without the prefix
//
// An executables entry allows the image's own file at its path; one with
// origin written also allows a file written after the container started
// (its writable layer, a memfd, a deleted file: Observation.Written). One
// with "as" allows a multi-call binary only as that applet (Applet,
// MultiCall): learning records the applet of every exec of busybox.
//
// Learned entries carry evidence: {firstSeen, lastSeen, count, containers,
// nodes}. Decode is strict and reports every problem with file, line,
// column and field.
package profile

package profile

import (
	"time"

	"gopkg.in/yaml.v3"
)

// This file maps the profile document's fields; decode.go has the generic
// strict-reading helpers.

func (d *decoder) profile(root *yaml.Node) *Profile {
	p := &Profile{}
	top := d.fields(root, "", "apiVersion", "kind", "metadata", "spec")
	if n := d.require(top, root, "", "apiVersion"); n != nil {
		if v, ok := d.str(n, "apiVersion"); ok && v != APIVersion {
			d.fail(n, "apiVersion", "want %s, got %q", APIVersion, v)
		}
	}
	if n := d.require(top, root, "", "kind"); n != nil {
		if v, ok := d.str(n, "kind"); ok && v != KindImageProfile {
			d.fail(n, "kind", "want %s, got %q", KindImageProfile, v)
		}
	}
	if n := d.require(top, root, "", "metadata"); n != nil {
		p.Metadata = d.metadata(n)
	}
	if n := d.require(top, root, "", "spec"); n != nil {
		p.Spec = d.spec(n)
	}
	return p
}

func (d *decoder) metadata(n *yaml.Node) Metadata {
	var m Metadata
	f := d.fields(n, "metadata", "image", "digest", "version", "mode", "inheritedFrom", "learning")
	if v := f["image"]; v != nil {
		m.Image, _ = d.str(v, "metadata.image")
	}
	if v := d.require(f, n, "metadata", "digest"); v != nil {
		if s, ok := d.str(v, "metadata.digest"); ok {
			if err := ValidateDigest(s); err != nil {
				d.fail(v, "metadata.digest", "%v", err)
			}
			m.Digest = s
		}
	}
	if v := f["version"]; v != nil {
		ver, _ := d.uint(v, "metadata.version", 1<<63-1)
		m.Version = int64(ver)
	}
	if v := f["mode"]; v != nil {
		if s, ok := d.str(v, "metadata.mode"); ok {
			mode, err := ParseMode(s)
			if err != nil {
				d.fail(v, "metadata.mode", "%v", err)
			}
			m.Mode = mode
		}
	}
	if v := f["inheritedFrom"]; v != nil {
		if s, ok := d.str(v, "metadata.inheritedFrom"); ok {
			if _, _, err := ParseRef(s); err != nil {
				d.fail(v, "metadata.inheritedFrom", "%v", err)
			}
			m.InheritedFrom = s
		}
	}
	if v := f["learning"]; v != nil {
		m.Learning = d.learning(v)
	}
	return m
}

func (d *decoder) learning(n *yaml.Node) Learning {
	const field = "metadata.learning"
	var l Learning
	f := d.fields(n, field, "started", "lastSeen", "lastNewEntry", "observations",
		"containers", "containersCapped", "nodes", "nodesCapped", "incomplete")
	if v := f["started"]; v != nil {
		l.Started = d.time(v, field+".started")
	}
	if v := f["lastSeen"]; v != nil {
		l.LastSeen = d.time(v, field+".lastSeen")
	}
	if v := f["lastNewEntry"]; v != nil {
		l.LastNewEntry = d.time(v, field+".lastNewEntry")
	}
	if v := f["observations"]; v != nil {
		l.Observations, _ = d.uint(v, field+".observations", 1<<63-1)
	}
	l.Containers = d.ids(f, field, "containers")
	l.Nodes = d.ids(f, field, "nodes")
	seen := map[string]int{}
	d.list(f["incomplete"], field+".incomplete", func(item *yaml.Node, fi string) {
		r := d.fields(item, fi, "reason", "count")
		var reason string
		if v := d.require(r, item, fi, "reason"); v != nil {
			reason, _ = d.str(v, fi+".reason")
		}
		var count uint64
		if v := r["count"]; v != nil {
			count, _ = d.uint(v, fi+".count", 1<<63-1)
		}
		if line, dup := seen[reason]; dup {
			d.fail(item, fi, "duplicate reason %q (first at line %d)", reason, line)
			return
		}
		seen[reason] = item.Line
		l.markIncomplete(reason, count)
	})
	return l
}

// entryKeys tracks entry identities within one list to report duplicates
// with the line of the first one.
type entryKeys map[string]int

func (d *decoder) unique(keys entryKeys, n *yaml.Node, field, key string) {
	if line, dup := keys[key]; dup {
		d.fail(n, field, "duplicate entry (first at line %d)", line)
		return
	}
	keys[key] = n.Line
}

func (d *decoder) spec(n *yaml.Node) Spec {
	var s Spec
	f := d.fields(n, "spec", ListExecutables, ListFiles, ListNetwork, ListCapabilities, ListIoUring)
	keys := entryKeys{}
	d.list(f[ListExecutables], "spec."+ListExecutables, func(item *yaml.Node, fi string) {
		e := d.fields(item, fi, "path", "as", "origin", "evidence")
		x := ExecEntry{Evidence: d.evidence(e, fi)}
		if v := e["as"]; v != nil {
			x.As, _ = d.str(v, fi+".as")
		}
		if v := d.require(e, item, fi, "path"); v != nil {
			x.Path = d.pattern(v, fi+".path")
			if err := validateApplet(x.Path, x.As); e["as"] != nil && err != nil {
				d.fail(e["as"], fi+".as", "%q: %v", x.As, err)
			}
			d.unique(keys, item, fi, "x"+appletPath(x.Path, x.As))
		}
		if v := e["origin"]; v != nil {
			if o, ok := d.str(v, fi+".origin"); ok {
				var err error
				if x.Written, err = parseOrigin(o); err != nil {
					d.fail(v, fi+".origin", "%v", err)
				}
			}
		}
		s.Executables = append(s.Executables, x)
	})
	d.list(f[ListFiles], "spec."+ListFiles, func(item *yaml.Node, fi string) {
		e := d.fields(item, fi, "path", "access", "from", "evidence")
		x := FileEntry{Evidence: d.evidence(e, fi)}
		if v := e["from"]; v != nil {
			if from, ok := d.str(v, fi+".from"); ok {
				if from != FromImage {
					d.fail(v, fi+".from", "unknown source %q (want %s)", from, FromImage)
				}
				x.Image = true
			}
		}
		if v := d.require(e, item, fi, "access"); v != nil {
			if a, ok := d.str(v, fi+".access"); ok {
				var err error
				if x.Access, err = ParseAccess(a); err != nil {
					d.fail(v, fi+".access", "%v", err)
				}
			}
		}
		if v := d.require(e, item, fi, "path"); v != nil {
			x.Path = d.pattern(v, fi+".path")
			d.unique(keys, item, fi, fileKey(x))
			if x.Image && x.Access != 0 {
				if err := validateImageEntry(x); err != nil {
					d.fail(v, fi, "%v", err)
				}
			}
		}
		s.Files = append(s.Files, x)
	})
	d.list(f[ListNetwork], "spec."+ListNetwork, func(item *yaml.Node, fi string) {
		x := d.networkEntry(item, fi)
		d.unique(keys, item, fi, "n"+x.String())
		s.Network = append(s.Network, x)
	})
	d.list(f[ListCapabilities], "spec."+ListCapabilities, func(item *yaml.Node, fi string) {
		e := d.fields(item, fi, "name", "evidence")
		x := CapabilityEntry{Evidence: d.evidence(e, fi)}
		if v := d.require(e, item, fi, "name"); v != nil {
			if name, ok := d.str(v, fi+".name"); ok {
				c, err := ParseCapability(name)
				if err != nil {
					d.fail(v, fi+".name", "%v", err)
				}
				x.Capability = c
				d.unique(keys, item, fi, "c"+name)
			}
		}
		s.Capabilities = append(s.Capabilities, x)
	})
	d.list(f[ListIoUring], "spec."+ListIoUring, func(item *yaml.Node, fi string) {
		e := d.fields(item, fi, "op", "evidence")
		x := IoUringEntry{Evidence: d.evidence(e, fi)}
		if v := d.require(e, item, fi, "op"); v != nil {
			if name, ok := d.str(v, fi+".op"); ok {
				op, err := ParseIoUringOp(name)
				if err != nil {
					d.fail(v, fi+".op", "%v", err)
				}
				x.Op = op
				d.unique(keys, item, fi, "u"+name)
			}
		}
		s.IoUring = append(s.IoUring, x)
	})
	return s
}

func (d *decoder) pattern(n *yaml.Node, field string) string {
	s, ok := d.str(n, field)
	if !ok {
		return ""
	}
	if err := ValidatePattern(s); err != nil {
		d.fail(n, field, "%q %v", s, err)
	}
	return s
}

func (d *decoder) networkEntry(item *yaml.Node, fi string) NetworkEntry {
	e := d.fields(item, fi, "unix", "address", "port", "protocol", "evidence")
	x := NetworkEntry{Evidence: d.evidence(e, fi)}
	if v := e["unix"]; v != nil {
		if len(e) > 1+btoi(e["evidence"] != nil) {
			d.fail(item, fi, "a unix entry takes only unix and evidence")
		}
		if s, ok := d.str(v, fi+".unix"); ok {
			if err := validateUnix(s); err != nil {
				d.fail(v, fi+".unix", "%q %v", s, err)
			}
			x.Unix = s
		}
		return x
	}
	if v := d.require(e, item, fi, "address"); v != nil {
		if s, ok := d.str(v, fi+".address"); ok {
			p, err := parseAddress(s)
			if err != nil {
				d.fail(v, fi+".address", "%v", err)
			}
			x.Prefix = p
		}
	}
	if v := d.require(e, item, fi, "port"); v != nil {
		r, err := parsePorts(v)
		if err != nil {
			d.fail(v, fi+".port", "%v", err)
		}
		x.Ports = r
	}
	if v := d.require(e, item, fi, "protocol"); v != nil {
		if s, ok := d.str(v, fi+".protocol"); ok {
			p, err := ParseProtocol(s)
			if err != nil {
				d.fail(v, fi+".protocol", "%v", err)
			}
			x.Protocol = p
		}
	}
	return x
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (d *decoder) evidence(entry map[string]*yaml.Node, field string) Evidence {
	var ev Evidence
	n := entry["evidence"]
	if n == nil {
		return ev
	}
	field += ".evidence"
	f := d.fields(n, field, "firstSeen", "lastSeen", "count", "containers", "containersCapped", "nodes", "nodesCapped")
	if v := f["firstSeen"]; v != nil {
		ev.FirstSeen = d.time(v, field+".firstSeen")
	}
	if v := f["lastSeen"]; v != nil {
		ev.LastSeen = d.time(v, field+".lastSeen")
	}
	if v := f["count"]; v != nil {
		ev.Count, _ = d.uint(v, field+".count", 1<<63-1)
	}
	ev.Containers = d.ids(f, field, "containers")
	ev.Nodes = d.ids(f, field, "nodes")
	if ev.LastSeen.Before(ev.FirstSeen) {
		d.fail(n, field, "lastSeen %s is before firstSeen %s", ev.LastSeen.Format(time.RFC3339Nano), ev.FirstSeen.Format(time.RFC3339Nano))
	}
	return ev
}

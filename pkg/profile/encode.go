package profile

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Document identity of a profile file.
const (
	APIVersion       = "vigil.dev/v1"
	KindImageProfile = "ImageProfile"
)

// Encode writes p as canonical YAML: fixed key order, every list in
// canonical order, times in UTC with nanoseconds, evidence on one line per
// entry. The same profile always gives the same bytes, so two profiles diff
// cleanly. p itself is not changed.
func Encode(p *Profile) ([]byte, error) {
	spec := p.Clone().Spec
	spec.Sort()
	lists := []any{
		ListExecutables, encodeList(spec.Executables, func(e ExecEntry) *yaml.Node {
			kv := []any{"path", str(e.Path)}
			if e.As != "" {
				kv = append(kv, "as", str(e.As))
			}
			if e.Written {
				kv = append(kv, "origin", str(OriginWritten))
			}
			return withEvidence(e.Evidence, kv...)
		}),
		ListFiles, encodeList(spec.Files, func(e FileEntry) *yaml.Node {
			if e.Image {
				return withEvidence(e.Evidence, "path", str(e.Path), "access", str(e.Access.String()), "from", str(FromImage))
			}
			return withEvidence(e.Evidence, "path", str(e.Path), "access", str(e.Access.String()))
		}),
		ListNetwork, encodeList(spec.Network, encodeNetwork),
		ListCapabilities, encodeList(spec.Capabilities, func(e CapabilityEntry) *yaml.Node {
			return withEvidence(e.Evidence, "name", str(e.Capability.String()))
		}),
	}
	// Most images never use io_uring: their documents stay as they were.
	if len(spec.IoUring) > 0 {
		lists = append(lists, ListIoUring, encodeList(spec.IoUring, func(e IoUringEntry) *yaml.Node {
			return withEvidence(e.Evidence, "op", str(e.Op.String()))
		}))
	}
	doc := mapping(
		"apiVersion", str(APIVersion),
		"kind", str(KindImageProfile),
		"metadata", encodeMetadata(p.Metadata),
		"spec", mapping(lists...),
	)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode profile %s: %w", p.Metadata.Digest, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode profile %s: %w", p.Metadata.Digest, err)
	}
	return buf.Bytes(), nil
}

func encodeMetadata(m Metadata) *yaml.Node {
	var kv []any
	if m.Image != "" {
		kv = append(kv, "image", str(m.Image))
	}
	kv = append(kv, "digest", str(m.Digest), "version", integer(m.Version))
	if m.Mode != "" {
		kv = append(kv, "mode", str(string(m.Mode)))
	}
	if m.InheritedFrom != "" {
		kv = append(kv, "inheritedFrom", str(m.InheritedFrom))
	}
	if l := m.Learning; !l.isZero() {
		lk := []any{}
		lk = appendTime(lk, "started", l.Started)
		lk = appendTime(lk, "lastSeen", l.LastSeen)
		lk = appendTime(lk, "lastNewEntry", l.LastNewEntry)
		lk = append(lk, "observations", integer(int64(l.Observations)))
		lk = appendIDs(lk, "containers", l.Containers)
		lk = appendIDs(lk, "nodes", l.Nodes)
		if len(l.Incomplete) > 0 {
			lk = append(lk, "incomplete", encodeList(l.Incomplete, func(r IncompleteReason) *yaml.Node {
				return mapping("reason", str(r.Reason), "count", integer(int64(r.Count)))
			}))
		}
		kv = append(kv, "learning", mapping(lk...))
	}
	return mapping(kv...)
}

func (l Learning) isZero() bool {
	return l.Started.IsZero() && l.LastSeen.IsZero() && l.LastNewEntry.IsZero() && l.Observations == 0 &&
		len(l.Containers.IDs) == 0 && len(l.Nodes.IDs) == 0 && !l.Containers.Capped && !l.Nodes.Capped &&
		len(l.Incomplete) == 0
}

func encodeNetwork(e NetworkEntry) *yaml.Node {
	if e.IsUnix() {
		return withEvidence(e.Evidence, "unix", str(e.Unix))
	}
	port := str(e.Ports.String())
	if e.Ports.Lo == e.Ports.Hi {
		port = integer(int64(e.Ports.Lo))
	}
	return withEvidence(e.Evidence, "address", str(prefixString(e.Prefix)), "port", port, "protocol", str(e.Protocol.String()))
}

// withEvidence builds an entry mapping, adding its evidence as a one-line
// flow mapping unless there is none.
func withEvidence(ev Evidence, kv ...any) *yaml.Node {
	if !ev.IsZero() {
		ek := []any{}
		ek = appendTime(ek, "firstSeen", ev.FirstSeen)
		ek = appendTime(ek, "lastSeen", ev.LastSeen)
		ek = append(ek, "count", integer(int64(ev.Count)))
		ek = appendIDs(ek, "containers", ev.Containers)
		ek = appendIDs(ek, "nodes", ev.Nodes)
		n := mapping(ek...)
		n.Style = yaml.FlowStyle
		kv = append(kv, "evidence", n)
	}
	return mapping(kv...)
}

func appendTime(kv []any, key string, t time.Time) []any {
	if t.IsZero() {
		return kv
	}
	return append(kv, key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!timestamp", Value: t.UTC().Format(time.RFC3339Nano)})
}

// appendIDs writes an id set as key: [ids] plus keyCapped: true when capped.
func appendIDs(kv []any, key string, s IDSet) []any {
	if len(s.IDs) == 0 && !s.Capped {
		return kv
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, id := range s.IDs {
		seq.Content = append(seq.Content, str(id))
	}
	kv = append(kv, key, seq)
	if s.Capped {
		kv = append(kv, key+"Capped", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
	return kv
}

func encodeList[E any](items []E, f func(E) *yaml.Node) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if len(items) == 0 {
		seq.Style = yaml.FlowStyle
	}
	for _, it := range items {
		seq.Content = append(seq.Content, f(it))
	}
	return seq
}

// mapping builds a mapping node from alternating keys (string) and values
// (*yaml.Node), in the order given.
func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i < len(kv); i += 2 {
		n.Content = append(n.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func integer(i int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(i, 10)}
}

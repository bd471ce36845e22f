package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Decode reads one profile document strictly: unknown or duplicate fields,
// YAML anchors, a wrong apiVersion or kind, a bad digest or mode, relative
// or malformed path patterns, bad addresses, CIDRs, ports, protocols,
// access or capabilities, and duplicate entries are all errors. file names
// the document in error messages. The error is a *DocumentError listing
// each problem with its line and column. Lists come back in canonical order.
func Decode(file string, data []byte) (*Profile, error) {
	root, err := parseDocument(file, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: file}
	p := d.profile(root)
	if len(d.problems) > 0 {
		return nil, &DocumentError{File: file, Problems: d.problems, More: d.more}
	}
	p.Spec.Sort()
	return p, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseDocument parses exactly one YAML document into its root node.
func parseDocument(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &DocumentError{File: file, Problems: []Problem{{Reason: "empty document"}}}
		}
		msg, line := err.Error(), 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		return nil, &DocumentError{File: file, Problems: []Problem{{Line: line, Reason: "invalid YAML: " + msg}}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return nil, &DocumentError{File: file, Problems: []Problem{{Line: line, Reason: "more than one document (one profile per file)"}}}
	}
	return doc.Content[0], nil
}

type decoder struct {
	file     string
	problems []Problem
	more     int
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	if len(d.problems) >= maxProblems {
		d.more++
		return
	}
	d.problems = append(d.problems, Problem{Line: n.Line, Column: n.Column, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// fields checks that n is a mapping with only the allowed keys, each once,
// and returns the value node of each key present.
func (d *decoder) fields(n *yaml.Node, field string, allowed ...string) map[string]*yaml.Node {
	out := make(map[string]*yaml.Node)
	if n.Kind == yaml.AliasNode {
		d.fail(n, field, "anchors and aliases are not supported")
		return out
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, field, "want a mapping, got %s", describe(n))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := join(field, k.Value)
		switch {
		case !contains(allowed, k.Value):
			d.fail(k, name, "unknown field (allowed: %s)", strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			d.fail(k, name, "duplicate field (first at line %d)", out[k.Value].Line)
		default:
			out[k.Value] = v
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
}

// require reports a missing key and returns its node (nil when missing).
func (d *decoder) require(m map[string]*yaml.Node, parent *yaml.Node, field, key string) *yaml.Node {
	n := m[key]
	if n == nil {
		d.fail(parent, join(field, key), "required field missing")
	}
	return n
}

// str reads a string scalar; ok is false (and a problem recorded) otherwise.
func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		d.fail(n, field, "want a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) uint(n *yaml.Node, field string, max uint64) (uint64, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		if v, err := strconv.ParseUint(n.Value, 10, 64); err == nil && v <= max {
			return v, true
		}
	}
	d.fail(n, field, "want a whole number from 0 to %d, got %s", max, describe(n))
	return 0, false
}

func (d *decoder) boolean(n *yaml.Node, field string) bool {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		v, err := strconv.ParseBool(n.Value)
		if err == nil {
			return v
		}
	}
	d.fail(n, field, "want true or false, got %s", describe(n))
	return false
}

func (d *decoder) time(n *yaml.Node, field string) time.Time {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!timestamp" || n.Tag == "!!str") {
		if t, err := time.Parse(time.RFC3339Nano, n.Value); err == nil {
			return normTime(t)
		}
	}
	d.fail(n, field, "want an RFC 3339 time such as 2025-01-02T15:04:05Z, got %s", describe(n))
	return time.Time{}
}

// list reads a sequence (null is an empty one) and calls f per item with
// its field path.
func (d *decoder) list(n *yaml.Node, field string, f func(item *yaml.Node, field string)) {
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return
	}
	if n.Kind == yaml.AliasNode {
		d.fail(n, field, "anchors and aliases are not supported")
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, field, "want a list, got %s", describe(n))
		return
	}
	for i, item := range n.Content {
		f(item, fmt.Sprintf("%s[%d]", field, i))
	}
}

func (d *decoder) ids(m map[string]*yaml.Node, field, key string) IDSet {
	var s IDSet
	d.list(m[key], join(field, key), func(item *yaml.Node, f string) {
		if id, ok := d.str(item, f); ok {
			if !s.add(id, len(s.IDs)+1) {
				d.fail(item, f, "duplicate id %q", id)
			}
		}
	})
	if c := m[key+"Capped"]; c != nil {
		s.Capped = d.boolean(c, join(field, key+"Capped"))
	}
	return s
}

// parsePorts reads 443, "8000-8100" or "any".
func parsePorts(n *yaml.Node) (PortRange, error) {
	if n.Kind != yaml.ScalarNode {
		return PortRange{}, errors.New("want a port, a range lo-hi, or any")
	}
	if n.Value == "any" && n.Tag == "!!str" {
		return AnyPort, nil
	}
	lo, hi, isRange := strings.Cut(n.Value, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.ParseUint(lo, 10, 16)
	h, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("bad port %q: want 0-65535, a range lo-hi, or any", n.Value)
	}
	if l > h {
		return PortRange{}, fmt.Errorf("bad port range %q: low end above high end", n.Value)
	}
	return PortRange{uint16(l), uint16(h)}, nil
}

// parseAddress reads an address (a single host) or a CIDR.
func parseAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", s)
		}
		return p, validatePrefix(p)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q: want an IP address or CIDR", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address %q: zones are not allowed", s)
	}
	p := netip.PrefixFrom(a, a.BitLen())
	return p, validatePrefix(p)
}

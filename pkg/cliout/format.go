package cliout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Format is how a command prints its result (its -o flag).
type Format string

// The machine formats; the human one is named by each command ("table",
// "text").
const (
	JSON Format = "json"
	YAML Format = "yaml"
)

// ParseFormat reads -o: human (the command's readable format), json or
// yaml. The human format is returned as "".
func ParseFormat(s, human string) (Format, error) {
	switch Format(s) {
	case Format(human):
		return "", nil
	case JSON, YAML:
		return Format(s), nil
	}
	return "", fmt.Errorf("output %q: want %s, json or yaml", s, human)
}

// Printer writes values in a machine format: JSON, one value per line, or
// YAML, one document per value ("---" between them). Either way a value is
// written whole as soon as it is printed, so a stream (alerts tail) can be
// read as it comes.
type Printer struct {
	w      io.Writer
	format Format
	docs   int
}

// NewPrinter prints to w in format (JSON or YAML).
func NewPrinter(w io.Writer, format Format) *Printer {
	return &Printer{w: w, format: format}
}

// Print writes v, anything encoding/json encodes (json.RawMessage for JSON
// made elsewhere, such as protojson's). YAML keeps the JSON's key order.
func (p *Printer) Print(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	b = escapeControls(b)
	if p.format != YAML {
		var out bytes.Buffer
		if err := json.Compact(&out, b); err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		out.WriteByte('\n')
		_, err = p.w.Write(out.Bytes())
		return err
	}
	doc, err := jsonToYAML(b)
	if err != nil {
		return err
	}
	if p.docs > 0 {
		doc = append([]byte("---\n"), doc...)
	}
	p.docs++
	_, err = p.w.Write(doc)
	return err
}

// escapeControls writes DEL and the C1 controls as \u escapes: JSON
// encoders (encoding/json, protojson) leave them raw in strings, a terminal
// obeys the C1 ones, and YAML refuses them raw. Outside its strings JSON is
// ASCII, so every one is in a string, where the escape stands for the same
// character.
func escapeControls(b []byte) []byte {
	isControl := func(r rune) bool { return r == 0x7f || r >= 0x80 && r < 0xa0 }
	if !bytes.ContainsFunc(b, isControl) {
		return b
	}
	var out bytes.Buffer
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if isControl(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[:size])
		}
		b = b[size:]
	}
	return out.Bytes()
}

// jsonToYAML re-encodes a JSON document as block-style YAML: JSON is YAML
// already, so the parsed nodes keep the keys' order and the values' types,
// and only their flow style and quotes are dropped (the encoder quotes what
// would read as another type).
func jsonToYAML(b []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("encode output as YAML: %w", err)
	}
	var plain func(*yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&doc)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode output as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode output as YAML: %w", err)
	}
	return out.Bytes(), nil
}

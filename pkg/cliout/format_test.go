package cliout

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vigil-dev/vigil/test/testutil"
)

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"table": "", "json": JSON, "yaml": YAML} {
		if got, err := ParseFormat(in, "table"); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("text", "table"); err == nil || err.Error() != `output "text": want table, json or yaml` {
		t.Errorf("ParseFormat(text): %v", err)
	}
}

func TestPrinter(t *testing.T) {
	type counter struct {
		Name  string  `json:"name"`
		Value float64 `json:"value"`
	}
	values := []any{
		counter{"events", 1515656},
		json.RawMessage(`{"zeta": "123", "alpha": {"on": "true", "list": [1, "- x"]}}`),
	}
	var js, ys bytes.Buffer
	jp, yp := NewPrinter(&js, JSON), NewPrinter(&ys, YAML)
	for _, v := range values {
		if err := jp.Print(v); err != nil {
			t.Fatal(err)
		}
		if err := yp.Print(v); err != nil {
			t.Fatal(err)
		}
	}
	if want := `{"name":"events","value":1515656}
{"zeta":"123","alpha":{"on":"true","list":[1,"- x"]}}
`; js.String() != want {
		t.Errorf("JSON lines:\n%s\nwant\n%s", js.String(), want)
	}
	if want := `name: events
value: 1515656
---
zeta: "123"
alpha:
  on: "true"
  list:
    - 1
    - '- x'
`; ys.String() != want {
		t.Errorf("YAML documents:\n%s\nwant\n%s", ys.String(), want)
	}
	// The YAML reads back as the values printed, types included.
	dec := yaml.NewDecoder(strings.NewReader(ys.String()))
	var first counter
	var second map[string]any
	if err := dec.Decode(&first); err != nil || first != (counter{"events", 1515656}) {
		t.Errorf("first document: %+v, %v", first, err)
	}
	if err := dec.Decode(&second); err != nil || second["zeta"] != "123" || second["alpha"].(map[string]any)["on"] != "true" {
		t.Errorf("second document: %v, %v", second, err)
	}
}

// TestPrinterEscapesControls prints a name full of control characters as
// JSON and YAML: neither holds one raw, and both decode to the name.
func TestPrinterEscapesControls(t *testing.T) {
	name := strings.ToValidUTF8(hostile, "")
	doc, err := json.Marshal(map[string]string{"path": name}) // DEL and C1 raw, as protojson's
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []Format{JSON, YAML} {
		var b bytes.Buffer
		p := NewPrinter(&b, format)
		if err := p.Print(json.RawMessage(doc)); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if err := p.Print(map[string]string{"path": name}); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		out := b.String()
		if raw := testutil.TerminalControls(out); raw != nil {
			t.Errorf("%s holds %q raw:\n%s", format, raw, out)
		}
		var paths []string
		dec := yaml.NewDecoder(strings.NewReader(out))
		for {
			var doc struct{ Path string }
			if format == JSON {
				line, rest, _ := strings.Cut(out, "\n")
				if out = rest; line == "" {
					break
				}
				if err := json.Unmarshal([]byte(line), &doc); err != nil {
					t.Fatalf("json: %v: %q", err, line)
				}
			} else if err := dec.Decode(&doc); err != nil {
				break
			}
			paths = append(paths, doc.Path)
		}
		if len(paths) != 2 || paths[0] != name || paths[1] != name {
			t.Errorf("%s decodes to %q, want %q twice", format, paths, name)
		}
	}
}

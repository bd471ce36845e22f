package cliout

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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

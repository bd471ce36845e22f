package audit

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

var jsonOptions = protojson.MarshalOptions{UseProtoNames: true}

// MarshalJSON encodes a record as one line of compact JSON with proto
// field names: what the collector's audit sinks write, vigilctl audit list
// -o json prints and vigilctl audit verify --file reads back. The hash is
// not computed over this encoding (see Canonical): reformatting a line
// does not break the chain, changing a value does.
func MarshalJSON(r *vigilv1.AuditRecord) ([]byte, error) {
	raw, err := jsonOptions.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode audit record %d: %w", r.GetSeq(), err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, fmt.Errorf("compact audit record %d: %w", r.GetSeq(), err)
	}
	return b.Bytes(), nil
}

// UnmarshalJSON decodes one line MarshalJSON wrote.
func UnmarshalJSON(line []byte) (*vigilv1.AuditRecord, error) {
	r := new(vigilv1.AuditRecord)
	if err := protojson.Unmarshal(line, r); err != nil {
		return nil, fmt.Errorf("decode audit record: %w", err)
	}
	return r, nil
}

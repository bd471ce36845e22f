package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// JSONLines appends every alert to a file as one JSON object per line, with
// the proto field names (snake_case). Lines are flushed to the file as they
// are written; the file is not fsynced (the store is the durable record).
type JSONLines struct {
	f *os.File
	w *bufio.Writer
}

var jsonOptions = protojson.MarshalOptions{UseProtoNames: true}

// NewJSONLines opens path for appending, creating it (mode 0640) if needed.
func NewJSONLines(path string) (*JSONLines, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open JSON-lines sink: %w", err)
	}
	return &JSONLines{f: f, w: bufio.NewWriter(f)}, nil
}

// Write appends one line.
func (j *JSONLines) Write(_ context.Context, a *vigilv1.Alert) error {
	line, err := MarshalAlertJSON(a)
	if err != nil {
		return err
	}
	j.w.Write(line)
	j.w.WriteByte('\n')
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("write JSON-lines sink: %w", err)
	}
	return nil
}

// Close closes the file.
func (j *JSONLines) Close() error {
	return j.f.Close()
}

// MarshalAlertJSON encodes an alert as one line of compact JSON with proto
// field names (protojson's output is compacted so the bytes are stable).
func MarshalAlertJSON(a *vigilv1.Alert) ([]byte, error) {
	raw, err := jsonOptions.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alert %q: %w", a.GetId(), err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, fmt.Errorf("compact alert %q: %w", a.GetId(), err)
	}
	return b.Bytes(), nil
}

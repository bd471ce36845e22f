package collector

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// labelDecodeError marks, in the alert standing for one that did not
// decode, why it did not; validateAlert refuses such an alert with it.
const labelDecodeError = "vigil.dev/decode-error"

// codec is gRPC's protobuf codec, except that an AlertBatch is decoded one
// alert at a time: an alert that does not decode (a string that is not
// UTF-8, a bad field) is refused alone, like an invalid one, instead of
// failing the whole message and ending the stream.
type codec struct{ encoding.CodecV2 }

// newCodec wraps the registered protobuf codec.
func newCodec() codec { return codec{encoding.GetCodecV2(grpcproto.Name)} }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*vigilv1.AlertBatch)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return unmarshalBatch(buf.ReadOnlyData(), b) // proto.Unmarshal copies what it keeps
}

// Field numbers of AlertBatch and Alert read on the wire.
const (
	batchSeqField    = 1
	batchAlertsField = 2
	alertIDField     = 1
)

// unmarshalBatch decodes an AlertBatch; each alert that does not decode
// becomes one holding only its id, as far as it can be read, and the
// decode error (labelDecodeError). Unknown fields are skipped.
func unmarshalBatch(data []byte, b *vigilv1.AlertBatch) error {
	b.Reset()
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("alert batch: %w", protowire.ParseError(n))
		}
		data = data[n:]
		switch {
		case num == batchSeqField && typ == protowire.VarintType:
			b.Seq, n = protowire.ConsumeVarint(data)
		case num == batchAlertsField && typ == protowire.BytesType:
			var raw []byte
			raw, n = protowire.ConsumeBytes(data)
			if n >= 0 {
				b.Alerts = append(b.Alerts, decodeAlert(raw))
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return fmt.Errorf("alert batch field %d: %w", num, protowire.ParseError(n))
		}
		data = data[n:]
	}
	return nil
}

func decodeAlert(raw []byte) *vigilv1.Alert {
	a := new(vigilv1.Alert)
	err := proto.Unmarshal(raw, a)
	if err == nil {
		return a
	}
	return &vigilv1.Alert{Id: alertID(raw), Labels: map[string]string{labelDecodeError: "alert does not decode: " + err.Error()}}
}

// alertID reads the id of an alert that does not decode, made valid UTF-8
// so that the acknowledgement naming it encodes.
func alertID(raw []byte) string {
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return ""
		}
		raw = raw[n:]
		if num == alertIDField && typ == protowire.BytesType {
			id, n := protowire.ConsumeBytes(raw)
			if n < 0 {
				return ""
			}
			return strings.ToValidUTF8(string(id), "\uFFFD")
		}
		if n = protowire.ConsumeFieldValue(num, typ, raw); n < 0 {
			return ""
		}
		raw = raw[n:]
	}
	return ""
}

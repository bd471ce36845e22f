package collector

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// rawCodec sends []byte messages as they are, which the protobuf codec of
// a client would refuse to build: a string field that is not UTF-8.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return proto.Marshal(v.(proto.Message))
}

func (rawCodec) Unmarshal(data []byte, v any) error { return proto.Unmarshal(data, v.(proto.Message)) }

// batchWire encodes an AlertBatch from encoded alerts.
func batchWire(seq uint64, alerts ...[]byte) []byte {
	b := protowire.AppendTag(nil, batchSeqField, protowire.VarintType)
	b = protowire.AppendVarint(b, seq)
	for _, a := range alerts {
		b = protowire.AppendTag(b, batchAlertsField, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	return b
}

// TestUndecodableAlertRejectedAlone sends a batch whose middle alert holds
// an object path that is not UTF-8: that alert is refused alone, with its
// id and the reason, the two others are stored, and the stream goes on.
func TestUndecodableAlertRejectedAlone(t *testing.T) {
	e := startEnv(t, nil)
	ctx := testCtx(t, 30*time.Second)
	stream, err := e.agent(t, "node-a").StreamAlerts(ctx, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	encode := func(a *vigilv1.Alert) []byte {
		b, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := encode(testAlert("bad")) // then its object replaced by one with a path that is not UTF-8
	obj := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "/tmp/\xff\xfeevil")
	bad = protowire.AppendBytes(protowire.AppendTag(bad, 8, protowire.BytesType), obj)
	if err := stream.SendMsg(batchWire(1, encode(testAlert("before")), bad, encode(testAlert("after")))); err != nil {
		t.Fatal(err)
	}
	ack, err := stream.Recv()
	if err != nil {
		t.Fatalf("batch with one undecodable alert: %v", err)
	}
	if ids := ack.GetIds(); len(ids) != 2 || ids[0] != "before" || ids[1] != "after" {
		t.Errorf("acked %v, want before and after", ids)
	}
	if r := ack.GetRejected(); len(r) != 1 || r[0].GetIndex() != 1 || r[0].GetId() != "bad" || !strings.Contains(r[0].GetMessage(), "invalid UTF-8") {
		t.Errorf("rejected %v, want index 1, id bad, invalid UTF-8", r)
	}
	if err := stream.Send(batchOf(2, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if ack, err := stream.Recv(); err != nil || len(ack.GetIds()) != 1 {
		t.Fatalf("the stream after the undecodable alert: %v %v", ack, err)
	}
	if n := metric(t, e.reg, "vigil_collector_alerts_rejected_total", "reason", "invalid"); n != 1 {
		t.Errorf("rejected metric = %v, want 1", n)
	}
}

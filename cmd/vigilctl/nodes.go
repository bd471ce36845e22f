package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliout"
)

func newNodesCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List nodes with their last status: agent, kernel, enforcement tier per hook, where opens and connects are seen, losses",
		Example: `  vigilctl nodes
  vigilctl nodes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				resp, err := c.ListNodes(ctx, &vigilv1.ListNodesRequest{})
				if err != nil {
					return err
				}
				if o.format != "" {
					for _, n := range resp.GetNodes() {
						doc, err := nodeJSON(n)
						if err != nil {
							return err
						}
						if err := o.print(doc); err != nil {
							return err
						}
					}
					return nil
				}
				return o.printNodes(resp.GetNodes(), time.Now())
			})
		},
	}
}

// nodeDoc is a node as -o json|yaml print it: protojson's names and forms
// (enums by name, times in RFC 3339), but counters as numbers, which
// protojson writes as strings (64-bit integers).
type nodeDoc struct {
	Node         string            `json:"node"`
	AgentVersion string            `json:"agent_version,omitempty"`
	Kernel       string            `json:"kernel,omitempty"`
	Enforcement  []json.RawMessage `json:"enforcement,omitempty"`
	SensorHooks  []json.RawMessage `json:"sensor_hooks,omitempty"`
	Counters     map[string]uint64 `json:"counters,omitempty"`
	Time         json.RawMessage   `json:"time,omitempty"`
	Received     json.RawMessage   `json:"received,omitempty"`
	// The canonical policy is a string of JSON, as the collector audits it.
	ApprovalPolicy json.RawMessage `json:"approval_policy,omitempty"`
}

func nodeJSON(n *vigilv1.NodeStatus) (nodeDoc, error) {
	doc := nodeDoc{Node: n.GetNode(), AgentVersion: n.GetAgentVersion(), Kernel: n.GetKernel(), Counters: n.GetCounters()}
	marshal := protojson.MarshalOptions{UseProtoNames: true}.Marshal
	var err error
	if doc.Enforcement, err = marshalEach(marshal, n.GetEnforcement()); err != nil {
		return doc, err
	}
	if doc.SensorHooks, err = marshalEach(marshal, n.GetSensorHooks()); err != nil {
		return doc, err
	}
	for _, t := range []struct {
		ts  *timestamppb.Timestamp
		out *json.RawMessage
	}{{n.GetTime(), &doc.Time}, {n.GetReceived(), &doc.Received}} {
		if t.ts == nil {
			continue
		}
		b, err := marshal(t.ts)
		if err != nil {
			return doc, err
		}
		*t.out = b
	}
	if p := n.GetApprovalPolicy(); p != nil {
		b, err := marshal(p)
		if err != nil {
			return doc, err
		}
		doc.ApprovalPolicy = b
	}
	return doc, nil
}

// marshalEach is each message as marshal writes it.
func marshalEach[M proto.Message](marshal func(proto.Message) ([]byte, error), msgs []M) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for _, m := range msgs {
		b, err := marshal(m)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (o *options) printNodes(nodes []*vigilv1.NodeStatus, now time.Time) error {
	var t cliout.Table
	t.Row("NODE", "AGENT", "KERNEL", "LAST SEEN", "EXEC", "OPEN", "CONNECT", "UNIX", "CAPABILITY", "IO_URING", "SEEN AT", "LOSSES", "APPROVAL")
	for _, n := range nodes {
		tiers := map[string]string{}
		for _, h := range n.GetEnforcement() {
			name := h.GetName()
			if name == "" { // an agent from before hooks were named: one per kind
				name = strings.ToLower(strings.TrimPrefix(h.GetHook().String(), "KIND_"))
			}
			tiers[name] = strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(h.GetTier().String(), "TIER_")), "_", "-")
		}
		tier := func(name string) string {
			if t, ok := tiers[name]; ok {
				return t
			}
			return "-"
		}
		seen := now.Sub(n.GetReceived().AsTime()).Round(time.Second)
		t.Cells(cliout.Cell{Text: n.GetNode()}, cliout.Cell{Text: n.GetAgentVersion()}, cliout.Cell{Text: n.GetKernel()},
			cliout.Cell{Text: seen.String() + " ago"},
			cliout.Cell{Text: tier("exec")}, cliout.Cell{Text: tier("open")}, cliout.Cell{Text: tier("connect")},
			cliout.Cell{Text: tier("connect_unix")}, cliout.Cell{Text: tier("capability")}, cliout.Cell{Text: tier("io_uring")},
			cliout.Cell{Text: seenAt(n.GetSensorHooks())}, losses(n.GetCounters()), cliout.Cell{Text: approvalPolicy(n.GetApprovalPolicy())})
	}
	return t.Write(o.out, o.paint)
}

// seenAt says where a node sees opens and connects, as open=fexit,
// connect=sys_exit (-o json has the hooks whole, with why): at the kernel
// function's exit or at the system call's.
func seenAt(hooks []*vigilv1.SensorHook) string {
	var parts []string
	for _, h := range hooks {
		at := h.GetAttach()
		if strings.HasPrefix(at, "fexit/") {
			at = "fexit"
		} else {
			at = at[strings.LastIndex(at, "/")+1:] // tp_btf/sys_exit: sys_exit
		}
		parts = append(parts, h.GetKind().ShortName()+"="+at)
	}
	if parts == nil { // an agent from before hooks were reported
		return "-"
	}
	return strings.Join(parts, ",")
}

// approvalPolicy names a node's approved-images policy by its action and
// the start of its hash, which the audit trail's approval.policy records
// name in full: "alert 1a2b3c4d".
func approvalPolicy(p *vigilv1.ApprovalPolicy) string {
	var doc struct{ Action string }
	if p == nil || json.Unmarshal([]byte(p.GetCanonical()), &doc) != nil || len(p.GetSha256()) < 8 {
		return "-"
	}
	return doc.Action + " " + p.GetSha256()[:8]
}

// losses summarises the counters that count lost events or alerts.
func losses(counters map[string]uint64) cliout.Cell {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(counters)) {
		if v := counters[name]; v > 0 && isLossCounter(name) {
			parts = append(parts, fmt.Sprintf("%s=%d", name, v))
		}
	}
	if len(parts) == 0 {
		return cliout.Cell{Text: "none", Color: colorGreen}
	}
	return cliout.Cell{Text: strings.Join(parts, ","), Color: colorRed}
}

func isLossCounter(name string) bool {
	for _, word := range []string{"lost", "drop", "corrupt", "overflow", "missed"} {
		if strings.Contains(name, word) {
			return true
		}
	}
	return false
}

package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

func newNodesCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List nodes with their last status: agent, kernel, enforcement tier per hook, losses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				resp, err := c.ListNodes(ctx, &vigilv1.ListNodesRequest{})
				if err != nil {
					return err
				}
				if o.output == "json" {
					for _, n := range resp.GetNodes() {
						b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(n)
						if err != nil {
							return err
						}
						fmt.Fprintf(o.out, "%s\n", compactJSON(b))
					}
					return nil
				}
				return o.printNodes(resp.GetNodes(), time.Now())
			})
		},
	}
}

func (o *options) printNodes(nodes []*vigilv1.NodeStatus, now time.Time) error {
	w := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tAGENT\tKERNEL\tLAST SEEN\tEXEC\tOPEN\tCONNECT\tCAPABILITY\tLOSSES")
	for _, n := range nodes {
		tiers := map[vigilv1.Kind]string{}
		for _, h := range n.GetEnforcement() {
			tiers[h.GetHook()] = strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(h.GetTier().String(), "TIER_")), "_", "-")
		}
		tier := func(k vigilv1.Kind) string {
			if t, ok := tiers[k]; ok {
				return t
			}
			return "-"
		}
		seen := now.Sub(n.GetReceived().AsTime()).Round(time.Second)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s ago\t%s\t%s\t%s\t%s\t%s\n", n.GetNode(), n.GetAgentVersion(), n.GetKernel(), seen,
			tier(vigilv1.Kind_KIND_EXEC), tier(vigilv1.Kind_KIND_OPEN), tier(vigilv1.Kind_KIND_CONNECT), tier(vigilv1.Kind_KIND_CAPABILITY),
			o.losses(n.GetCounters()))
	}
	return w.Flush()
}

// losses summarises the counters that count lost events or alerts.
func (o *options) losses(counters map[string]uint64) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(counters)) {
		if v := counters[name]; v > 0 && isLossCounter(name) {
			parts = append(parts, fmt.Sprintf("%s=%d", name, v))
		}
	}
	if len(parts) == 0 {
		return o.paint(colorGreen, "none")
	}
	return o.paint(colorRed, strings.Join(parts, ","))
}

func isLossCounter(name string) bool {
	for _, word := range []string{"lost", "drop", "corrupt", "overflow", "missed"} {
		if strings.Contains(name, word) {
			return true
		}
	}
	return false
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/sink"
)

// filterFlags are the alert filters tail and list share.
type filterFlags struct {
	nodes, namespaces, images, kinds []string
	since                            string
}

func (f *filterFlags) register(cmd *cobra.Command, o *options) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.nodes, "node", nil, "only these nodes (repeat or comma-separate)")
	fl.StringSliceVar(&f.namespaces, "namespace", nil, "only these Kubernetes namespaces")
	fl.StringSliceVar(&f.images, "image", nil, "only these images (name:tag or sha256 digest)")
	fl.StringSliceVar(&f.kinds, "kind", nil, "only these kinds: exec, open, connect, capability, io_uring, enforcement_degraded (a container's opens not judged as its profile asks), posture (a container started worse than the last of its image), unapproved_image (a container of an image the approval policy does not approve), agent_gap (no agent watched the node)")
	fl.StringVar(&f.since, "since", f.since, "alerts from this long ago (1h, 30m) or this time (RFC 3339)")
	cliout.CompleteFlags(cmd, map[string]cobra.CompletionFunc{
		"node": o.completion(nodeNames), "namespace": o.completion(namespaceNames), "image": o.completion(imageFilters),
		"kind": cliout.Fixed("exec", "open", "connect", "capability", "io_uring", "enforcement_degraded", "posture", "unapproved_image", "agent_gap"),
	})
}

func (f *filterFlags) proto(now time.Time) (*vigilv1.AlertFilter, error) {
	out := &vigilv1.AlertFilter{Nodes: f.nodes, Namespaces: f.namespaces, Images: f.images}
	for _, k := range f.kinds {
		v, ok := vigilv1.Kind_value["KIND_"+strings.ToUpper(k)]
		if !ok || v == 0 {
			return nil, fmt.Errorf("kind %q: want exec, open, connect, capability, io_uring, enforcement_degraded, posture, unapproved_image or agent_gap", k)
		}
		out.Kinds = append(out.Kinds, vigilv1.Kind(v))
	}
	if f.since != "" {
		t, err := parseSince(f.since, now)
		if err != nil {
			return nil, err
		}
		out.Since = timestamppb.New(t)
	}
	return out, nil
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (1h, 90m) or an RFC 3339 time (2026-05-01T12:00:00Z)", s)
}

func newAlertsCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Tail and query alerts",
		Example: `  vigilctl alerts tail --namespace shop
  vigilctl alerts list --since 24h --kind exec`,
	}
	cmd.AddCommand(newAlertsTailCmd(o), newAlertsListCmd(o))
	return cmd
}

func newAlertsTailCmd(o *options) *cobra.Command {
	var f filterFlags
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print alerts as they arrive (with --since, stored ones first)",
		Long: `tail prints alerts as the collector receives them. When the collector goes
away (a restart, a network cut), tail says so on stderr and reconnects with
backoff; once back, it replays the alerts stored since about the time the
connection was lost, skipping those it printed already.`,
		Example: `  # Everything, live
  vigilctl alerts tail
  # One namespace's execs and connects, the last hour's first, as JSON lines
  vigilctl alerts tail --namespace shop --kind exec,connect --since 1h -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := f.proto(time.Now())
			if err != nil {
				return err
			}
			client, closeConn, err := o.dial()
			if err != nil {
				return err
			}
			defer closeConn()
			t := &tailer{o: o, client: client, filter: filter, stderr: cmd.ErrOrStderr(), seen: map[alertKey]time.Time{}}
			return t.run(cmd.Context())
		},
	}
	f.register(cmd, o)
	return cmd
}

func newAlertsListCmd(o *options) *cobra.Command {
	f := filterFlags{since: "1h"}
	var limit uint32
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Print stored alerts, oldest first",
		Example: `  # The last hour's
  vigilctl alerts list
  # One node's, of one image, since a time, as YAML
  vigilctl alerts list --since 2026-05-01T12:00:00Z --node node-1 --image docker.io/library/nginx:1.27 -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := f.proto(time.Now())
			if err != nil {
				return err
			}
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				resp, err := c.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: filter, Limit: limit})
				if err != nil {
					return err
				}
				for _, a := range slices.Backward(resp.GetAlerts()) {
					if err := o.printAlert(a); err != nil {
						return err
					}
				}
				if len(resp.GetAlerts()) == 0 && o.format == "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "no alerts match")
				}
				if resp.GetTruncated() {
					fmt.Fprintf(cmd.ErrOrStderr(), "(only the newest %d shown; narrow the filters or raise --limit)\n", len(resp.GetAlerts()))
				}
				return nil
			})
		},
	}
	f.register(cmd, o)
	cmd.Flags().Uint32Var(&limit, "limit", 1000, "at most this many alerts")
	return cmd
}

// printAlert writes one alert as a line of text, of JSON, or a YAML
// document.
func (o *options) printAlert(a *vigilv1.Alert) error {
	if o.format != "" {
		doc, err := sink.MarshalAlertJSON(a)
		if err != nil {
			return err
		}
		return o.print(json.RawMessage(doc))
	}
	// Every name is the container's or the node's to choose: escaped.
	esc := cliout.Escape
	if a.GetKind() == vigilv1.Kind_KIND_AGENT_GAP { // no container, no process: the detail says it all
		_, err := fmt.Fprintf(o.out, "%s %s %s %s\n", o.paint(colorDim, a.GetTime().AsTime().UTC().Format(time.RFC3339)),
			esc(a.GetNode()), o.paint(colorYellow+colorBold, "GAP"), esc(a.GetDetail()))
		return err
	}
	c, p := a.GetContainer(), a.GetProcess()
	action := strings.ToUpper(a.GetAction().ShortName())
	actionColor := colorYellow
	if a.GetAction() == vigilv1.Action_ACTION_BLOCKED || a.GetAction() == vigilv1.Action_ACTION_KILLED {
		actionColor = colorRed
	}
	where := c.GetNamespace() + "/" + c.GetPod()
	if c.GetPod() == "" {
		where = "container " + shortID(c.GetId())
	}
	line := fmt.Sprintf("%s %s %s %s %s %s by %s (pid %d) in %s image %s",
		o.paint(colorDim, a.GetTime().AsTime().UTC().Format(time.RFC3339)),
		esc(a.GetNode()),
		o.paint(actionColor+colorBold, action),
		a.GetKind().ShortName(),
		o.paint(colorBold, esc(sink.ObjectString(a))),
		esc(accessSuffix(a)),
		esc(p.GetPath()), p.GetPid(), esc(where), esc(c.GetImage()))
	if a.GetRule() != "" {
		line += " rule=" + esc(a.GetRule())
	}
	if a.GetCount() > 1 {
		line += fmt.Sprintf(" ×%d", a.GetCount())
	}
	line += fileLeft(a.GetLabels()["file_left"])
	_, err := fmt.Fprintln(o.out, strings.Join(strings.Fields(line), " "))
	return err
}

// fileLeft says what the refused create of an alert left behind, from its
// file_left label (pkg/alert's LabelFileLeft values, named here as they are
// sent: pkg/alert does not build for operators' laptops).
func fileLeft(label string) string {
	switch label {
	case "":
		return ""
	case "empty":
		return " (empty file left)"
	case "empty_if_new":
		return " (an empty file is left if none existed)"
	}
	return " (file left: " + cliout.Escape(label) + ")"
}

func accessSuffix(a *vigilv1.Alert) string {
	if a.GetAccess() == "" {
		return ""
	}
	return "(" + a.GetAccess() + ")"
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

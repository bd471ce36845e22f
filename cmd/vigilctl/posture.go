package main

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliout"
)

func newPostureCmd(o *options) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "posture",
		Short: "Least-privilege posture of every running container, and the Pod Security Standards level it meets",
		Long: `Each agent judges its containers' OCI runtime specs and reports them with
its status. Findings: privileged, run_as_root, added_capabilities (beyond the
runtime's default set), unused_capabilities (granted, never used by the image's
learned profile: drop them), writable_root_fs, host_pid, host_network,
host_ipc, host_path_mount, sensitive_host_mount, runtime_socket_mount,
no_seccomp, privilege_escalation.

PSS is the Pod Security Standards level met, from what the runtime spec shows.
baseline: not privileged, no host PID/network/IPC namespace, no host path
mount, no capability added beyond the baseline's list. restricted: baseline,
and not root, no privilege escalation (no_new_privs), a seccomp profile, and
every capability dropped but NET_BIND_SERVICE. AppArmor, SELinux, /proc mount
type, sysctls and host ports are not visible there and not checked.
-o json has every container whole, with the rules that stop it meeting the
next level.`,
		Example: `  vigilctl posture
  vigilctl posture --node node-1 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				resp, err := c.ListNodes(ctx, &vigilv1.ListNodesRequest{})
				if err != nil {
					return err
				}
				var t cliout.Table
				t.Row("NODE", "POD/CONTAINER", "IMAGE", "PSS", "FINDINGS", "UNUSED CAPABILITIES")
				marshal := protojson.MarshalOptions{UseProtoNames: true}.Marshal
				for _, n := range resp.GetNodes() {
					if node != "" && n.GetNode() != node {
						continue
					}
					for _, p := range n.GetPostures() {
						if o.format != "" {
							doc, err := marshal(p)
							if err != nil {
								return err
							}
							if err := o.print(postureDoc{Node: n.GetNode(), Posture: doc}); err != nil {
								return err
							}
							continue
						}
						t.Cells(cliout.Cell{Text: n.GetNode()}, cliout.Cell{Text: postureName(p)}, cliout.Cell{Text: p.GetImage()},
							pssCell(p.GetPssLevel()), cliout.Cell{Text: orDash(strings.Join(p.GetFindings(), ","))},
							cliout.Cell{Text: orDash(strings.Join(p.GetUnusedCapabilities(), ","))})
					}
				}
				if o.format != "" {
					return nil
				}
				return t.Write(o.out, o.paint)
			})
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "only this node's containers")
	cliout.CompleteFlags(cmd, map[string]cobra.CompletionFunc{"node": o.completion(nodeNames)})
	return cmd
}

// postureDoc is one container's posture as -o json|yaml print it.
type postureDoc struct {
	Node    string          `json:"node"`
	Posture json.RawMessage `json:"posture"`
}

// postureName is namespace/pod/container in Kubernetes, else the
// container id.
func postureName(p *vigilv1.ContainerPosture) string {
	if p.GetPod() == "" {
		return p.GetContainerId()
	}
	return p.GetNamespace() + "/" + p.GetPod() + "/" + p.GetContainerName()
}

func pssCell(level string) cliout.Cell {
	switch level {
	case "restricted":
		return cliout.Cell{Text: level, Color: colorGreen}
	case "privileged":
		return cliout.Cell{Text: level, Color: colorRed}
	}
	return cliout.Cell{Text: level}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

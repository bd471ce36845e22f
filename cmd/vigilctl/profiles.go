package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/profilecr"
)

func newProfilesCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "Review, diff, promote, import and export image profiles",
		Long: `Profiles are keyed by image digest. REF below is NAME or NAME@VERSION (the
latest version when none is given); NAME is the digest, a unique prefix of it
of 6 hex digits or more (with or without sha256:) or the image name
(nginx:1.27, or nginx for its only tag). A NAME that fits several profiles,
or is an image name and a digest prefix of different ones, is refused with
the list.`,
		Example: `  # Review what a node learned, then promote the version you reviewed
  vigilctl profiles list
  vigilctl profiles diff nginx:1.27
  vigilctl profiles mode nginx:1.27 enforce --expect-version 3`,
	}
	cmd.AddCommand(newProfilesListCmd(o), newProfilesShowCmd(o), newProfilesDiffCmd(o),
		newProfilesModeCmd(o), newProfilesExportCmd(o), newProfilesImportCmd(o))
	return cmd
}

// parseRef reads NAME[@VERSION]: NAME is resolved by resolveRef.
func parseRef(s string) (name string, version int64, err error) {
	name = s
	if i := strings.LastIndex(s, "@"); i >= 0 && !strings.Contains(s[i+1:], ":") {
		v, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err != nil || v < 1 {
			return "", 0, fmt.Errorf("profile %q: the version after @ must be a positive number", s)
		}
		name, version = s[:i], v
	}
	if name == "" {
		return "", 0, fmt.Errorf("profile %q: no image digest or name", s)
	}
	return name, version, nil
}

// resolveRef names the profile s stands for (see profile.Resolve): a full
// digest as it is, anything else looked up among the collector's profiles.
func resolveRef(ctx context.Context, c vigilv1.ConsumerServiceClient, s string) (*vigilv1.ProfileRef, error) {
	name, version, err := parseRef(s)
	if err != nil {
		return nil, err
	}
	digest, err := resolveDigest(ctx, c, name)
	if err != nil {
		return nil, err
	}
	return &vigilv1.ProfileRef{ImageDigest: digest, Version: version}, nil
}

func resolveDigest(ctx context.Context, c vigilv1.ConsumerServiceClient, name string) (string, error) {
	if profile.IsFullDigest(name) {
		return name, nil
	}
	refs, err := profileRefs(ctx, c)
	if err != nil {
		return "", err
	}
	return profile.Resolve(name, refs)
}

// profileRefs lists the images the collector has profiles of.
func profileRefs(ctx context.Context, c vigilv1.ConsumerServiceClient) ([]profile.ImageRef, error) {
	resp, err := c.ListProfiles(ctx, &vigilv1.ListProfilesRequest{})
	if err != nil {
		return nil, err
	}
	var refs []profile.ImageRef
	for _, p := range resp.GetProfiles() {
		refs = append(refs, profile.ImageRef{Image: p.GetImage(), Digest: p.GetImageDigest()})
	}
	return refs, nil
}

func modeName(m vigilv1.ProfileMode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "PROFILE_MODE_"))
}

func parseMode(s string) (vigilv1.ProfileMode, error) {
	v, ok := vigilv1.ProfileMode_value["PROFILE_MODE_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, fmt.Errorf("mode %q: want learn, monitor or enforce", s)
	}
	return vigilv1.ProfileMode(v), nil
}

func newProfilesListCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List profiles (latest version of each digest)",
		Example: `  vigilctl profiles list
  vigilctl profiles list -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				resp, err := c.ListProfiles(ctx, &vigilv1.ListProfilesRequest{})
				if err != nil {
					return err
				}
				if o.format != "" {
					for _, p := range resp.GetProfiles() {
						if err := o.print(profileJSON(p)); err != nil {
							return err
						}
					}
					return nil
				}
				var t cliout.Table
				t.Row("DIGEST", "IMAGE", "VERSION", "MODE", "READY", "NODES", "CREATED")
				for _, p := range resp.GetProfiles() {
					t.Cells(cliout.Cell{Text: p.GetImageDigest()}, cliout.Cell{Text: p.GetImage()},
						cliout.Cell{Text: strconv.FormatInt(p.GetVersion(), 10)}, modeCell(p.GetMode()), readyCell(p),
						cliout.Cell{Text: strconv.Itoa(len(p.GetNodes()))}, cliout.Cell{Text: p.GetCreated().AsTime().UTC().Format(time.RFC3339)})
				}
				return t.Write(o.out, o.paint)
			})
		},
	}
}

// modeCell is a mode, coloured by how strict it is.
func modeCell(m vigilv1.ProfileMode) cliout.Cell {
	color := map[vigilv1.ProfileMode]string{
		vigilv1.ProfileMode_PROFILE_MODE_LEARN:   colorDim,
		vigilv1.ProfileMode_PROFILE_MODE_MONITOR: colorYellow,
		vigilv1.ProfileMode_PROFILE_MODE_ENFORCE: colorGreen,
	}[m]
	return cliout.Cell{Text: modeName(m), Color: color}
}

// readyCell says whether a profile's evidence makes it ready to enforce.
func readyCell(p *vigilv1.Profile) cliout.Cell {
	if len(p.GetNotReady()) == 0 {
		return cliout.Cell{Text: "yes", Color: colorGreen}
	}
	return cliout.Cell{Text: "no", Color: colorYellow}
}

func (o *options) paintMode(m vigilv1.ProfileMode) string {
	c := modeCell(m)
	return o.paint(c.Color, c.Text)
}

// profileJSON is a profile for -o json, its YAML as a string.
func profileJSON(p *vigilv1.Profile) map[string]any {
	out := map[string]any{
		"image_digest": p.GetImageDigest(), "image": p.GetImage(), "version": p.GetVersion(),
		"mode": modeName(p.GetMode()), "sha256": p.GetSha256(), "nodes": p.GetNodes(), "author": p.GetAuthor(),
		"created":   p.GetCreated().AsTime().UTC().Format(time.RFC3339Nano),
		"ready":     len(p.GetNotReady()) == 0,
		"not_ready": p.GetNotReady(),
	}
	if len(p.GetYaml()) > 0 {
		out["yaml"] = string(p.GetYaml())
	}
	return out
}

func newProfilesShowCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "show REF",
		Short: "Show a profile: its versions, mode, contributing nodes and YAML",
		Example: `  # The latest version, by image name; version 2, by digest prefix
  vigilctl profiles show nginx:1.27
  vigilctl profiles show 4f2a9c@2`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: positional(1, o.completion(profileNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				ref, err := resolveRef(ctx, c, args[0])
				if err != nil {
					return err
				}
				resp, err := c.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: ref})
				if err != nil {
					return err
				}
				p := resp.GetProfile()
				if o.format != "" {
					j := profileJSON(p)
					j["versions"] = resp.GetVersions()
					return o.print(j)
				}
				esc := cliout.Escape
				fmt.Fprintf(o.out, "# digest:   %s\n# image:    %s\n# version:  %d of %v\n# mode:     %s\n# nodes:    %s\n# author:   %s\n# created:  %s\n# sha256:   %s\n",
					esc(p.GetImageDigest()), esc(p.GetImage()), p.GetVersion(), resp.GetVersions(), o.paintMode(p.GetMode()),
					esc(strings.Join(p.GetNodes(), ", ")), esc(p.GetAuthor()), p.GetCreated().AsTime().UTC().Format(time.RFC3339), esc(p.GetSha256()))
				if why := p.GetNotReady(); len(why) > 0 {
					fmt.Fprintf(o.out, "# ready:    no: %s\n", esc(strings.Join(why, "; ")))
				} else {
					fmt.Fprintln(o.out, "# ready:    yes")
				}
				_, err = io.WriteString(o.out, cliout.EscapeLines(string(p.GetYaml())))
				return err
			})
		},
	}
}

func newProfilesDiffCmd(o *options) *cobra.Command {
	var unified bool
	cmd := &cobra.Command{
		Use:   "diff REF [REF]",
		Short: "Show what changed between two profiles (one REF: its previous version and it)",
		Example: `  # The last change
  vigilctl profiles diff nginx:1.27
  # Two versions, as a unified diff of the documents
  vigilctl profiles diff nginx:1.27@1 nginx:1.27@3 --unified`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: positional(2, o.completion(profileNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				from, err := resolveRef(ctx, c, args[0])
				if err != nil {
					return err
				}
				to := from
				if len(args) == 2 {
					if to, err = resolveRef(ctx, c, args[1]); err != nil {
						return err
					}
				} else {
					if from, err = previousVersion(ctx, c, from); err != nil {
						return err
					}
				}
				resp, err := c.DiffProfiles(ctx, &vigilv1.DiffProfilesRequest{From: from, To: to})
				if err != nil {
					return err
				}
				if o.format != "" {
					return o.print(map[string]any{"equal": resp.GetEqual(), "text": resp.GetText(), "unified": resp.GetUnified()})
				}
				text := resp.GetText()
				if unified {
					text = resp.GetUnified()
				}
				if resp.GetEqual() && !unified && text == "" {
					fmt.Fprintln(o.out, "no difference")
					return nil
				}
				for _, line := range strings.SplitAfter(text, "\n") {
					color := ""
					switch {
					case strings.HasPrefix(line, "+"):
						color = colorGreen
					case strings.HasPrefix(line, "-"):
						color = colorRed
					}
					fmt.Fprint(o.out, o.paint(color, cliout.Escape(strings.TrimSuffix(line, "\n"))))
					if strings.HasSuffix(line, "\n") {
						fmt.Fprintln(o.out)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&unified, "unified", false, "show the unified diff of the YAML documents (evidence included)")
	return cmd
}

// requireReady refuses to enforce a profile whose evidence does not make it
// ready: learning still finding new entries, too few containers, events of
// its containers missed. The version checked is the one that would be
// enforced (expect, or the latest).
func requireReady(ctx context.Context, c vigilv1.ConsumerServiceClient, digest string, expect int64) error {
	resp, err := c.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest, Version: expect}})
	if err != nil {
		return err
	}
	why := resp.GetProfile().GetNotReady()
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("%s version %d is not ready to enforce: %s; check with --dry-run, or --force to enforce it anyway",
		cliout.Escape(digest), resp.GetProfile().GetVersion(), cliout.Escape(strings.Join(why, "; ")))
}

// previousVersion names the version before ref (the latest when ref has
// none); before the first version of an inherited profile, its parent.
func previousVersion(ctx context.Context, c vigilv1.ConsumerServiceClient, ref *vigilv1.ProfileRef) (*vigilv1.ProfileRef, error) {
	resp, err := c.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	v := resp.GetProfile().GetVersion()
	var prev int64
	for _, x := range resp.GetVersions() {
		if x < v {
			prev = x
		}
	}
	if prev != 0 {
		return &vigilv1.ProfileRef{ImageDigest: ref.GetImageDigest(), Version: prev}, nil
	}
	doc, err := profile.Decode(ref.GetImageDigest(), resp.GetProfile().GetYaml())
	if err != nil {
		return nil, fmt.Errorf("read %s version %d: %w", ref.GetImageDigest(), v, err)
	}
	if doc.Metadata.InheritedFrom == "" {
		return nil, fmt.Errorf("%s has no version before %d; name two profiles to compare", ref.GetImageDigest(), v)
	}
	digest, version, err := profile.ParseRef(doc.Metadata.InheritedFrom)
	if err != nil {
		return nil, fmt.Errorf("read %s version %d: %w", ref.GetImageDigest(), v, err)
	}
	return &vigilv1.ProfileRef{ImageDigest: digest, Version: version}, nil
}

func newProfilesModeCmd(o *options) *cobra.Command {
	var expect int64
	var dry, force bool
	var window time.Duration
	cmd := &cobra.Command{
		Use:   "mode NAME learn|monitor|enforce",
		Short: "Set a profile's mode (a new version) and push it to the agents",
		Example: `  # Enforce the version you reviewed (refused if a newer one came since)
  vigilctl profiles mode nginx:1.27 enforce --expect-version 3
  # Back to monitoring
  vigilctl profiles mode 4f2a9c monitor
  # What enforcing the latest version would have refused in the last 6 hours
  vigilctl profiles mode nginx:1.27 enforce --dry-run --since 6h`,
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return o.completion(profileNames)(cmd, args, toComplete)
			}
			return positional(2, cliout.Fixed("learn", "monitor", "enforce"))(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := parseMode(args[1])
			if err != nil {
				return err
			}
			if dry && mode != vigilv1.ProfileMode_PROFILE_MODE_ENFORCE {
				return errors.New("--dry-run previews enforce mode only")
			}
			if window <= 0 {
				return fmt.Errorf("--since must be positive, got %v", window)
			}
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				digest, err := resolveDigest(ctx, c, args[0])
				if err != nil {
					return err
				}
				if dry {
					dr, err := runDryRun(ctx, c, digest, time.Now().Add(-window))
					if err != nil {
						return err
					}
					return o.printDryRun(dr, window)
				}
				if mode == vigilv1.ProfileMode_PROFILE_MODE_ENFORCE && !force {
					if err := requireReady(ctx, c, digest, expect); err != nil {
						return err
					}
				}
				resp, err := c.SetProfileMode(ctx, &vigilv1.SetProfileModeRequest{ImageDigest: digest, Mode: mode, ExpectVersion: expect})
				if err != nil {
					return err
				}
				p := resp.GetProfile()
				fmt.Fprintf(o.out, "%s is now %s (version %d)\n", cliout.Escape(p.GetImageDigest()), o.paintMode(p.GetMode()), p.GetVersion())
				return nil
			})
		},
	}
	cmd.Flags().Int64Var(&expect, "expect-version", 0, "refuse unless this is the latest version (the one you reviewed)")
	cmd.Flags().BoolVar(&force, "force", false, "enforce even though the profile's evidence does not make it ready (see profiles show)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "change nothing: show what the latest version, enforced, would have refused of what the alerts stored for the image report")
	cmd.Flags().DurationVar(&window, "since", 24*time.Hour, "with --dry-run, how far back to look")
	return cmd
}

func newProfilesExportCmd(o *options) *cobra.Command {
	var file string
	var resource bool
	cmd := &cobra.Command{
		Use:   "export REF",
		Short: "Write a profile's YAML to stdout or a file",
		Example: `  vigilctl profiles export nginx:1.27 -f nginx.yaml
  vigilctl profiles export nginx:1.27@2
  # As an ImageProfile manifest, for kubectl apply or a GitOps repository
  vigilctl profiles export nginx:1.27 --resource -f nginx-profile.yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: positional(1, o.completion(profileNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				ref, err := resolveRef(ctx, c, args[0])
				if err != nil {
					return err
				}
				resp, err := c.ExportProfile(ctx, &vigilv1.ExportProfileRequest{Ref: ref})
				if err != nil {
					return err
				}
				out := resp.GetYaml()
				if resource {
					if out, err = resourceManifest(out); err != nil {
						return err
					}
				}
				if file == "" {
					_, err = o.out.Write(out)
					return err
				}
				return os.WriteFile(file, out, 0o644)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "write to this file instead of stdout")
	cmd.Flags().BoolVar(&resource, "resource", false,
		"write an ImageProfile resource (vigil.dev/v1) to kubectl apply: the allowlists and mode without evidence, expectVersion set to this version")
	return cmd
}

// resourceManifest turns a profile document into an ImageProfile manifest.
func resourceManifest(doc []byte) ([]byte, error) {
	p, err := profile.Decode("exported profile", doc)
	if err != nil {
		return nil, err
	}
	obj, err := profilecr.FromProfile(p)
	if err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("encode ImageProfile: %w", err)
	}
	return out, nil
}

func newProfilesImportCmd(o *options) *cobra.Command {
	var modeFlag string
	var expect int64
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Store a profile YAML document as the next version of its digest",
		Example: `  # A profile edited or kept in Git, monitored first
  vigilctl profiles import nginx.yaml --mode monitor

  # Only if nobody made a version since the one you edited (version 4)
  vigilctl profiles import nginx.yaml --expect-version 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var mode vigilv1.ProfileMode
			if modeFlag != "" {
				if mode, err = parseMode(modeFlag); err != nil {
					return err
				}
			}
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				resp, err := c.ImportProfile(ctx, &vigilv1.ImportProfileRequest{Yaml: data, Mode: mode, ExpectVersion: expect})
				if err != nil {
					return err
				}
				p := resp.GetProfile()
				if resp.GetUnchanged() {
					fmt.Fprintf(o.out, "unchanged: %s version %d (%s) already allows this\n", cliout.Escape(p.GetImageDigest()), p.GetVersion(), o.paintMode(p.GetMode()))
					return nil
				}
				fmt.Fprintf(o.out, "imported %s as version %d (%s)\n", cliout.Escape(p.GetImageDigest()), p.GetVersion(), o.paintMode(p.GetMode()))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&modeFlag, "mode", "", "mode of the imported version: learn, monitor or enforce (default: the document's)")
	cmd.Flags().Int64Var(&expect, "expect-version", 0, "refuse unless this is the latest version (the one you edited)")
	cliout.CompleteFlags(cmd, map[string]cobra.CompletionFunc{"mode": cliout.Fixed("learn", "monitor", "enforce")})
	return cmd
}

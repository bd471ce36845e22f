package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/audit"
	"github.com/vigil-dev/vigil/pkg/cliout"
)

func newAuditCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List and verify the audit trail of administrative actions",
		Long: `The collector records every administrative action — a profile imported,
its mode changed, drafts merged into a version, a version inherited, a client
certificate used for the first time, a node's approved-images policy first
reported or changed, the collector's configuration at start —
with who did it (the identity of their certificate), when, and the object's
version before and after. The records form a hash chain: each one's hash
covers the one before it, so a record changed, removed or reordered in the
database breaks the chain there, and verify says where.`,
		Example: `  vigilctl audit list --since 24h
  vigilctl audit verify`,
	}
	cmd.AddCommand(newAuditListCmd(o), newAuditVerifyCmd(o))
	return cmd
}

// auditPage is how many records one ListAudit call asks for.
const auditPage = 1000

// eachAudit calls fn with every record matching f, in chain order.
func eachAudit(ctx context.Context, c vigilv1.ConsumerServiceClient, f *vigilv1.AuditFilter, fn func(*vigilv1.AuditRecord) error) error {
	var after int64
	for {
		resp, err := c.ListAudit(ctx, &vigilv1.ListAuditRequest{Filter: f, AfterSeq: after, Limit: auditPage})
		if err != nil {
			return err
		}
		for _, r := range resp.GetRecords() {
			if err := fn(r); err != nil {
				return err
			}
			after = r.GetSeq()
		}
		if !resp.GetTruncated() || len(resp.GetRecords()) == 0 {
			return nil
		}
	}
}

func newAuditListCmd(o *options) *cobra.Command {
	var since, until string
	f := &vigilv1.AuditFilter{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit records, oldest first",
		Example: `  vigilctl audit list --since 24h
  # Who changed one profile, and what it was before and after
  vigilctl audit list --object profile:sha256:4f2c… -o json
  # Everything one operator did; every profile change
  vigilctl audit list --actor consumer:alice
  vigilctl audit list --object 'profile:*' --action profile.mode`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			for _, t := range []struct {
				flag, value string
				out         **timestamppb.Timestamp
			}{{"since", since, &f.Since}, {"until", until, &f.Until}} {
				if t.value == "" {
					continue
				}
				at, err := parseSince(t.value, now)
				if err != nil {
					return fmt.Errorf("--%s: %w", t.flag, err)
				}
				*t.out = timestamppb.New(at)
			}
			return o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
				var table cliout.Table
				table.Row("SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "BEFORE", "AFTER")
				err := eachAudit(ctx, c, f, func(r *vigilv1.AuditRecord) error {
					if o.format != "" {
						doc, err := audit.MarshalJSON(r)
						if err != nil {
							return err
						}
						return o.print(json.RawMessage(doc))
					}
					table.Row(fmt.Sprint(r.GetSeq()), r.GetTime().AsTime().Local().Format(time.DateTime), r.GetActor(), r.GetAction(),
						short(r.GetObject()), short(r.GetBefore()), short(r.GetAfter()))
					return nil
				})
				if err != nil || o.format != "" {
					return err
				}
				return table.Write(o.out, o.paint)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "records from this long ago (1h, 30m) or this time (RFC 3339)")
	fl.StringVar(&until, "until", "", "records before this long ago or this time")
	fl.StringVar(&f.Actor, "actor", "", "only this actor (consumer:NAME, node:NAME, collector:HOST)")
	fl.StringVar(&f.Object, "object", "", `only this object, or objects starting with a prefix ending in "*" ('profile:*')`)
	fl.StringVar(&f.Action, "action", "", "only this action: profile.import, profile.mode, profile.merge, profile.inherit, certificate.seen, approval.policy, collector.config")
	cliout.CompleteFlags(cmd, map[string]cobra.CompletionFunc{
		"action": cliout.Fixed("profile.import", "profile.mode", "profile.merge", "profile.inherit", "certificate.seen", "approval.policy", "collector.config"),
	})
	return cmd
}

// sha256Hex is a SHA-256 digest written out in hex.
var sha256Hex = regexp.MustCompile(`[0-9a-f]{64}`)

// short keeps a table cell readable: digests are cut to 12 digits, long
// values (a configuration's JSON) to 60 characters; -o json has them whole.
func short(s string) string {
	const width = 60
	if s == "" {
		return "-"
	}
	s = sha256Hex.ReplaceAllStringFunc(s, func(h string) string { return h[:12] + "…" })
	if r := []rune(s); len(r) > width {
		return string(r[:width-1]) + "…"
	}
	return s
}

func newAuditVerifyCmd(o *options) *cobra.Command {
	var file, head string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit chain from the collector or an export, and report the first broken record",
		Long: `Reads every audit record, from the collector or from a file its
--audit-jsonl-file sink wrote, recomputes each record's hash and checks that
it links to the record before it, from the first record on. It prints how
many records verified and the hash of the last (the head), and fails naming
the first record that does not verify.

A chain cut short at its end still verifies: note the head it prints and pass
it later with --head, which fails unless that record is still in the chain.`,
		Example: `  vigilctl audit verify
  vigilctl audit verify --file /var/log/vigil/audit.jsonl
  vigilctl audit verify --head 3f9a…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v audit.Verifier
			seenHead := head == ""
			check := func(r *vigilv1.AuditRecord) error {
				if err := v.Next(r); err != nil {
					return err
				}
				seenHead = seenHead || r.GetHash() == head
				return nil
			}
			var err error
			if file != "" {
				err = verifyFile(file, check)
			} else {
				err = o.call(cmd, func(ctx context.Context, c vigilv1.ConsumerServiceClient) error {
					return eachAudit(ctx, c, nil, check)
				})
			}
			if err != nil {
				return err
			}
			if !seenHead {
				return fmt.Errorf("audit chain of %d records does not hold the head %s: records were removed from its end", v.Count(), head)
			}
			fmt.Fprintf(o.out, "%d records verified; head %s\n", v.Count(), v.Head())
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "verify this export (JSON lines) instead of asking the collector")
	cmd.Flags().StringVar(&head, "head", "", "a head printed before: fail unless the chain still holds it")
	return cmd
}

// verifyFile checks an export line by line. A sink delivers at least once:
// a line that repeats the record before it is skipped.
func verifyFile(path string, check func(*vigilv1.AuditRecord) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var prev *vigilv1.AuditRecord
	for line := 1; ; line++ {
		text, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(text) == 0 {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", path, err)
		}
		rec, err := audit.UnmarshalJSON(text)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if prev != nil && rec.GetSeq() == prev.GetSeq() && rec.GetHash() == prev.GetHash() {
			continue
		}
		if err := check(rec); err != nil {
			return err
		}
		prev = rec
	}
}

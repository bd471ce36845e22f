package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliout"
)

// completionTimeout bounds the request behind one press of TAB.
const completionTimeout = 3 * time.Second

// completion is a cobra completion function that asks the collector, with
// the connection settings of the command line, environment and config
// file; a failure offers nothing (and says why under cobra's debug log).
func (o *options) completion(list func(context.Context, vigilv1.ConsumerServiceClient, string) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if err := o.load(cmd.Flags()); err != nil {
			cobra.CompDebugln(err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, closeConn, err := o.dial()
		if err != nil {
			cobra.CompDebugln(err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer closeConn()
		ctx, cancel := context.WithTimeout(cmd.Context(), min(o.timeout, completionTimeout))
		defer cancel()
		out, err := list(ctx, client, toComplete)
		if err != nil {
			cobra.CompDebugln(o.explain(err).Error(), false)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// positional completes the first n arguments with complete, and no more.
func positional(n int, complete cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= n {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return complete(cmd, args, toComplete)
	}
}

// profileNames offers the names of the collector's profiles.
func profileNames(ctx context.Context, c vigilv1.ConsumerServiceClient, toComplete string) ([]string, error) {
	refs, err := profileRefs(ctx, c)
	return cliout.ImageCompletions(refs, toComplete), err
}

// nodeNames offers the nodes that reported to the collector.
func nodeNames(ctx context.Context, c vigilv1.ConsumerServiceClient, toComplete string) ([]string, error) {
	resp, err := c.ListNodes(ctx, &vigilv1.ListNodesRequest{})
	var names []string
	for _, n := range resp.GetNodes() {
		names = append(names, n.GetNode())
	}
	return cliout.ListMatching(names, toComplete), err
}

// namespaceNames offers the Kubernetes namespaces of the last week's alerts
// (the collector keeps no other list of them).
func namespaceNames(ctx context.Context, c vigilv1.ConsumerServiceClient, toComplete string) ([]string, error) {
	filter, err := (&filterFlags{since: "168h"}).proto(time.Now())
	if err != nil {
		return nil, err
	}
	resp, err := c.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Filter: filter, Limit: 1000})
	var names []string
	for _, a := range resp.GetAlerts() {
		names = append(names, a.GetContainer().GetNamespace())
	}
	return cliout.ListMatching(names, toComplete), err
}

// imageFilters offers image names and digests as alert filters take them:
// exactly as the collector stores them.
func imageFilters(ctx context.Context, c vigilv1.ConsumerServiceClient, toComplete string) ([]string, error) {
	refs, err := profileRefs(ctx, c)
	var names []string
	for _, r := range refs {
		names = append(names, r.Image, r.Digest)
	}
	return cliout.ListMatching(names, toComplete), err
}

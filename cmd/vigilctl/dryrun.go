package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vigil-dev/vigil/pkg/alert/behaviour"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/cliout"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// dryRunAlerts bounds the alerts one dry run judges (the newest), to stay
// within one gRPC message.
const dryRunAlerts = 5000

// refusal is one behaviour a dry run found the profile would refuse.
type refusal struct {
	Kind       string    `json:"kind"`
	Object     string    `json:"object"`
	Access     string    `json:"access"`
	Count      uint64    `json:"count"`
	Containers []string  `json:"containers"`
	LastSeen   time.Time `json:"last_seen"`
}

// dryRun is what enforcing the latest version of a digest would have
// refused of what its containers did since a time: the alerts stored for
// the digest (monitor mode's shadow record of what enforcement would
// refuse) judged again against that version, so entries added since an
// alert are not counted.
type dryRun struct {
	Digest    string        `json:"image_digest"`
	Version   int64         `json:"version"`
	Since     time.Time     `json:"since"`
	Monitored time.Duration `json:"monitored_ns"`
	Judged    int           `json:"alerts_judged"`
	Truncated bool          `json:"truncated"`
	Refused   []refusal     `json:"would_refuse"`
}

func runDryRun(ctx context.Context, c vigilv1.ConsumerServiceClient, digest string, since time.Time) (*dryRun, error) {
	latest, err := c.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest}})
	if err != nil {
		return nil, err
	}
	p := latest.GetProfile()
	doc, err := profile.Decode(fmt.Sprintf("%s@%d", digest, p.GetVersion()), p.GetYaml())
	if err != nil {
		return nil, err
	}
	dr := &dryRun{Digest: digest, Version: p.GetVersion(), Since: since}
	if dr.Monitored, err = monitoredSince(ctx, c, digest, latest.GetVersions(), since); err != nil {
		return nil, err
	}
	resp, err := c.ListAlerts(ctx, &vigilv1.ListAlertsRequest{Limit: dryRunAlerts,
		Filter: &vigilv1.AlertFilter{Images: []string{digest}, Since: timestamppb.New(since)}})
	if err != nil {
		return nil, err
	}
	dr.Truncated = resp.GetTruncated()
	byKey := map[string]*refusal{}
	for _, a := range resp.GetAlerts() {
		o, ok := behaviour.Observation(a)
		if !ok {
			continue
		}
		dr.Judged++
		if allowed, _ := doc.Allows(o); allowed {
			continue
		}
		obj := objectText(a.GetObject())
		key := a.GetKind().String() + "\x00" + obj + "\x00" + a.GetAccess()
		r := byKey[key]
		if r == nil {
			r = &refusal{Kind: kindName(a.GetKind()), Object: obj, Access: a.GetAccess()}
			byKey[key] = r
		}
		r.Count += max(a.GetCount(), 1)
		if id := a.GetContainer().GetId(); !slices.Contains(r.Containers, id) {
			r.Containers = append(r.Containers, id)
		}
		if t := a.GetLastSeen().AsTime(); a.GetLastSeen() != nil && t.After(r.LastSeen) {
			r.LastSeen = t
		} else if t := a.GetTime().AsTime(); t.After(r.LastSeen) {
			r.LastSeen = t
		}
	}
	for _, r := range byKey {
		slices.Sort(r.Containers)
		dr.Refused = append(dr.Refused, *r)
	}
	slices.SortFunc(dr.Refused, func(a, b refusal) int {
		return strings.Compare(a.Kind+" "+a.Object+" "+a.Access, b.Kind+" "+b.Object+" "+b.Access)
	})
	return dr, nil
}

// monitoredSince is how long since `since` the digest's versions were in
// monitor mode: only then are its containers' actions outside the profile
// alerted, so only then does a dry run see them.
func monitoredSince(ctx context.Context, c vigilv1.ConsumerServiceClient, digest string, versions []int64, since time.Time) (time.Duration, error) {
	var monitored time.Duration
	end := time.Now()
	for _, v := range slices.Backward(versions) {
		resp, err := c.GetProfile(ctx, &vigilv1.GetProfileRequest{Ref: &vigilv1.ProfileRef{ImageDigest: digest, Version: v}})
		if err != nil {
			return 0, err
		}
		start := resp.GetProfile().GetCreated().AsTime()
		if resp.GetProfile().GetMode() == vigilv1.ProfileMode_PROFILE_MODE_MONITOR && end.After(since) {
			monitored += end.Sub(maxTime(start, since))
		}
		if !start.After(since) {
			break
		}
		end = start
	}
	return monitored, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func kindName(k vigilv1.Kind) string { return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_")) }

func objectText(obj *vigilv1.Object) string {
	switch {
	case obj.GetCapability() != "":
		return obj.GetCapability()
	case obj.GetIoUringOp() != "":
		return obj.GetIoUringOp()
	case obj.GetAddress() != "":
		return fmt.Sprintf("%s:%d/%s", obj.GetAddress(), obj.GetPort(), obj.GetProtocol())
	}
	s := obj.GetPath()
	if obj.GetApplet() != "" {
		s += " as " + obj.GetApplet()
	}
	if obj.GetWritten() {
		s += " (written)"
	}
	return s
}

// printDryRun writes a dry run for a reader.
func (o *options) printDryRun(dr *dryRun, window time.Duration) error {
	if o.format != "" {
		return o.print(dr)
	}
	esc := cliout.Escape
	fmt.Fprintf(o.out, "dry run: enforcing %s version %d\n", esc(dr.Digest), dr.Version)
	fmt.Fprintf(o.out, "monitored for %s of the last %s (outside monitor mode nothing is alerted, so nothing is seen)\n",
		dr.Monitored.Round(time.Second), window)
	more := ""
	if dr.Truncated {
		more = fmt.Sprintf(" (the newest %d only: more were stored)", dryRunAlerts)
	}
	fmt.Fprintf(o.out, "alerts judged against version %d: %d%s\n", dr.Version, dr.Judged, more)
	if len(dr.Refused) == 0 {
		fmt.Fprintln(o.out, "nothing they report would be refused")
		return nil
	}
	fmt.Fprintf(o.out, "would refuse %d distinct actions:\n", len(dr.Refused))
	var t cliout.Table
	t.Row("KIND", "OBJECT", "ACCESS", "TIMES", "CONTAINERS", "LAST SEEN")
	for _, r := range dr.Refused {
		t.Row(r.Kind, esc(r.Object), r.Access, strconv.FormatUint(r.Count, 10), strconv.Itoa(len(r.Containers)),
			r.LastSeen.UTC().Format(time.RFC3339))
	}
	return t.Write(o.out, o.paint)
}

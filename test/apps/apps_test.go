package apps_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/test/appimage"
	"github.com/vigil-dev/vigil/test/apps"
	"github.com/vigil-dev/vigil/test/testutil"
)

// maxNews is "a handful": the monitor alerts a fitting profile may still
// raise, each of them news to a reviewer.
const maxNews = 5

// TestRealApplications measures, for nginx, PostgreSQL 15 and notes (a
// Python web application), how well a profile the agent learns fits the
// application: about a minute of traffic mix A with one restart, then a
// different but legitimate mix B under monitor (false positives: distinct
// objects alerted) and under enforce, in a container started under
// enforcement (failed requests). A container whose opens the agent did not
// judge at all is counted and replaced, up to three in all, so the failed
// requests measure the profile. The target (issue 13) is 0 failed requests,
// every container judged, and at most a handful of monitor alerts; the
// test fails when any application misses it.
//
// About 1.5–2 minutes per application, 5–6 in all (each replaced container
// adds about 25 s), plus building the images' root filesystems once per
// machine (mmdebstrap, 2–3 minutes in parallel, cached in
// /var/cache/vigil-apps). VIGIL_APPS_OUT=dir keeps each learned profile
// and the alerts there.
func TestRealApplications(t *testing.T) {
	testutil.RequireRoot(t)
	cache, err := appimage.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	opts := apps.Options{Learn: 30 * time.Second, Rounds: 4, Pause: 200 * time.Millisecond,
		CacheDir: cache, OutDir: os.Getenv("VIGIL_APPS_OUT")}
	corpus := apps.Corpus()
	recipes := make([]appimage.Recipe, len(corpus))
	for i, app := range corpus {
		recipes[i] = app.Recipe
	}
	took, err := appimage.Prepare(context.Background(), cache, recipes...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("root filesystems ready in %s (cache %s)", took.Round(time.Second), cache)
	start := time.Now()
	var results []apps.Result
	for _, app := range corpus {
		t.Run(app.Name, func(t *testing.T) {
			began := time.Now()
			r := apps.Measure(t, app, opts)
			results = append(results, r)
			t.Logf("%s measured in %s\n%s", app.Name, time.Since(began).Round(time.Second), r.Report())
			if n := r.Enforce.Failed(); n > 0 || !r.Enforce.Started {
				t.Errorf("enforce: %d of %d requests failed (started: %v), want none", n, r.Enforce.Of(), r.Enforce.Started)
			}
			if r.Unjudged > 0 || r.Enforce.Unjudged != "" {
				t.Errorf("enforce: %d container(s) started with their opens unjudged (last: %q)", r.Unjudged, r.Enforce.Unjudged)
			}
			if n := len(r.Monitor.Findings); n > maxNews {
				t.Errorf("monitor: %d distinct objects alerted, want at most %d", n, maxNews)
			}
		})
	}
	if len(results) == 0 {
		return
	}
	t.Logf("%d applications in %s\n%s", len(results), time.Since(start).Round(time.Second), apps.Table(results))
}

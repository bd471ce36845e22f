package enforce

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/test/testutil"
)

// TestDegradedContainersReported fails to mark containers' mounts the ways
// the reconcile does: a container whose mounts include the host's is
// reported at once as refused, one whose mounts cannot be marked only once
// it has waited markUrgent, as unmarked; each once, however often its
// marking fails after.
func TestDegradedContainersReported(t *testing.T) {
	testutil.RequireRoot(t)
	f := startFanotify(t, func(OpenQuery) OpenAnswer { return OpenAnswer{} })
	var got []string
	c := &Controller{log: zaptest.NewLogger(t), fanotify: f, src: Sources{Degraded: func(ctr *containers.Container, d Degradation) {
		got = append(got, ctr.ID+":"+d.Outcome)
		if d.Why == "" {
			t.Errorf("container %s degraded (%s) without a reason", ctr.ID, d.Outcome)
		}
	}}}
	m := newOpenMarks()
	host := &containers.Container{ID: "host-mounts", Scope: 1}
	setting := &containers.Container{ID: "still-set-up", Scope: 2}
	stuck := &containers.Container{ID: "never-pivoted", Scope: 3}
	refused := fmt.Errorf("mount / (id 1): %w", errHostMount)
	notYet := fmt.Errorf("container: %w", errNotContained)
	for range 3 {
		c.markFailed(host, time.Now(), refused, m)
		c.markFailed(setting, time.Now(), notYet, m)
		c.markFailed(stuck, time.Now().Add(-markUrgent-time.Second), notYet, m)
	}
	if want := []string{"host-mounts:refused", "never-pivoted:unmarked"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("degraded containers reported: %v, want %v", got, want)
	}
}

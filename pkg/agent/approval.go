package agent

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/pkg/alert"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
	"github.com/vigil-dev/vigil/pkg/containers"
	"github.com/vigil-dev/vigil/pkg/enforce"
)

// The outcomes of an unapproved container (label outcome of
// vigil_approval_unapproved_containers_total).
const (
	outcomeAlerted        = "alerted"
	outcomeBeforeWorkload = "killed_before_workload"
	outcomeAfterWorkload  = "killed_after_workload"
	outcomeKillFailed     = "kill_failed"
)

// admission applies the approval policy to each container task.
type admission struct {
	policy     approval.Policy
	node       string
	known      func(digest string) bool
	emit       func(*vigilv1.Alert)
	log        *zap.Logger
	unapproved *prometheus.CounterVec
}

func newAdmission(cfg Config, known func(string) bool, emit func(*vigilv1.Alert), log *zap.Logger, reg prometheus.Registerer) (*admission, error) {
	a := &admission{policy: cfg.Approval, node: cfg.Node, known: known, emit: emit, log: log,
		unapproved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_approval_unapproved_containers_total",
			Help: "Containers created from an image the approval policy does not approve, by reason and by what they met.",
		}, []string{"reason", "outcome"})}
	if err := reg.Register(a.unapproved); err != nil {
		return nil, fmt.Errorf("register approval metrics: %w", err)
	}
	return a, nil
}

// admit judges a container's image (a pod's sandbox is no image of the
// pod's spec: never judged) and alerts on an unapproved one, stopped first
// when the policy enforces.
func (a *admission) admit(ctr *containers.Container, stop func() (enforce.Stop, error)) {
	if ctr.Sandbox {
		return
	}
	v := a.policy.Check(ctr.Image, ctr.ImageDigest, a.known)
	if v.Approved {
		return
	}
	action, outcome, ran := vigilv1.Action_ACTION_ALERTED, outcomeAlerted, false
	if a.policy.Action == approval.ActionEnforce {
		st, err := stop()
		ran = st.WorkloadRan
		switch {
		case err != nil:
			outcome = outcomeKillFailed
			a.log.Error("stop a container of an unapproved image", zap.String("container", ctr.ID), zap.Error(err))
		case ran:
			action, outcome = vigilv1.Action_ACTION_KILLED, outcomeAfterWorkload
		default:
			action, outcome = vigilv1.Action_ACTION_KILLED, outcomeBeforeWorkload
		}
	}
	now := time.Now()
	a.unapproved.WithLabelValues(string(v.Reason), outcome).Inc()
	fields := []zap.Field{zap.String("container", ctr.ID), zap.String("image", ctr.Image), zap.String("digest", ctr.ImageDigest),
		zap.String("reason", string(v.Reason)), zap.String("outcome", outcome)}
	if !ctr.CreatedAt.IsZero() {
		fields = append(fields, zap.Duration("since_create", now.Sub(ctr.CreatedAt)))
	}
	a.log.Warn("container of an unapproved image", fields...)
	a.emit(alert.Unapproved(a.node, ctr, v, action, ran, now))
}

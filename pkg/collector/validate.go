package collector

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/approval"
)

// Limits on what one alert may carry. An alert over a limit is refused, not
// truncated: a truncated alert would look whole to whoever reads it.
const (
	maxAlertIDBytes = 128
	maxFieldBytes   = 4096
	maxArgs         = 256
	maxAncestry     = 64
	maxLabels       = 64
	maxAlertBytes   = 64 << 10
	// An approval policy of a few hundred image patterns.
	maxPolicyBytes = 32 << 10
	// A status carries every running container's posture (a few hundred
	// bytes each, about 1 KiB for a privileged one): room for a node's
	// thousand.
	maxStatusBytes = 1 << 20
	maxCounters    = 512
	maxImages      = 1024
)

// fieldCheck accumulates the first violation found.
type fieldCheck struct{ err error }

func (c *fieldCheck) str(name, v string) {
	if c.err == nil && len(v) > maxFieldBytes {
		c.err = fmt.Errorf("%s is %d bytes, limit %d", name, len(v), maxFieldBytes)
	}
}

func (c *fieldCheck) count(name string, n, limit int) {
	if c.err == nil && n > limit {
		c.err = fmt.Errorf("%s has %d entries, limit %d", name, n, limit)
	}
}

func (c *fieldCheck) process(name string, p *vigilv1.Process) {
	c.str(name+".path", p.GetPath())
	c.str(name+".comm", p.GetComm())
	c.str(name+".raw_path", string(p.GetRawPath()))
	c.str(name+".raw_comm", string(p.GetRawComm()))
	c.count(name+".argv", len(p.GetArgv()), maxArgs)
	for _, arg := range p.GetArgv() {
		c.str(name+".argv[]", arg)
	}
	c.count(name+".raw_argv", len(p.GetRawArgv()), maxArgs)
	for _, arg := range p.GetRawArgv() {
		c.str(name+".raw_argv[]", string(arg))
	}
}

// validateAlert refuses alerts that cannot be stored faithfully or deduplicated.
func validateAlert(a *vigilv1.Alert) error {
	if msg, ok := a.GetLabels()[labelDecodeError]; ok {
		return errors.New(msg)
	}
	switch {
	case a.GetId() == "":
		return fmt.Errorf("alert has no id")
	case len(a.GetId()) > maxAlertIDBytes:
		return fmt.Errorf("alert id is %d bytes, limit %d", len(a.GetId()), maxAlertIDBytes)
	case a.GetTime() == nil:
		return fmt.Errorf("alert has no time")
	case a.GetKind() == vigilv1.Kind_KIND_UNSPECIFIED || vigilv1.Kind_name[int32(a.GetKind())] == "":
		return fmt.Errorf("alert kind %d is not one of exec, open, connect, capability, io_uring, agent_gap, enforcement_degraded, posture, unapproved_image", a.GetKind())
	}
	if size := proto.Size(a); size > maxAlertBytes {
		return fmt.Errorf("alert is %d bytes encoded, limit %d", size, maxAlertBytes)
	}
	var c fieldCheck
	ctr := a.GetContainer()
	for name, v := range map[string]string{
		"container.id": ctr.GetId(), "container.name": ctr.GetName(), "container.image": ctr.GetImage(),
		"container.image_digest": ctr.GetImageDigest(), "container.pod": ctr.GetPod(),
		"container.namespace": ctr.GetNamespace(), "container.pod_uid": ctr.GetPodUid(),
		"object.path": a.GetObject().GetPath(), "object.raw_path": string(a.GetObject().GetRawPath()),
		"object.address":  a.GetObject().GetAddress(),
		"object.protocol": a.GetObject().GetProtocol(), "object.capability": a.GetObject().GetCapability(),
		"object.applet":      a.GetObject().GetApplet(),
		"object.io_uring_op": a.GetObject().GetIoUringOp(),
		"access":             a.GetAccess(), "detail": a.GetDetail(), "rule": a.GetRule(),
	} {
		c.str(name, v)
	}
	c.process("process", a.GetProcess())
	c.count("ancestry", len(a.GetAncestry()), maxAncestry)
	for _, p := range a.GetAncestry() {
		c.process("ancestry[]", p)
	}
	c.count("labels", len(a.GetLabels()), maxLabels)
	for k, v := range a.GetLabels() {
		c.str("labels key", k)
		c.str("labels["+k+"]", v)
	}
	return c.err
}

// validateStatus refuses oversized heartbeats.
func validateStatus(s *vigilv1.NodeStatus) error {
	if size := proto.Size(s); size > maxStatusBytes {
		return fmt.Errorf("status is %d bytes encoded, limit %d", size, maxStatusBytes)
	}
	var c fieldCheck
	c.str("agent_version", s.GetAgentVersion())
	c.str("kernel", s.GetKernel())
	c.count("counters", len(s.GetCounters()), maxCounters)
	c.count("enforcement", len(s.GetEnforcement()), 16)
	c.count("sensor_hooks", len(s.GetSensorHooks()), 16)
	for _, h := range s.GetSensorHooks() {
		c.str("sensor_hooks[].attach", h.GetAttach())
		c.str("sensor_hooks[].reason", h.GetReason())
	}
	c.count("images", len(s.GetImages()), maxImages)
	for _, d := range s.GetImages() {
		c.str("images[]", d)
	}
	if p := s.GetApprovalPolicy(); p != nil {
		switch n := len(p.GetCanonical()); {
		case c.err != nil:
		case n > maxPolicyBytes:
			c.err = fmt.Errorf("approval_policy.canonical is %d bytes, limit %d", n, maxPolicyBytes)
		case p.GetSha256() != approval.Sum(p.GetCanonical()):
			c.err = errors.New("approval_policy.sha256 is not the SHA-256 of approval_policy.canonical")
		}
	}
	return c.err
}

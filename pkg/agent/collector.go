package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vigil-dev/vigil/pkg/agentcert"
	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/buildinfo"
	"github.com/vigil-dev/vigil/pkg/enforce"
	"github.com/vigil-dev/vigil/pkg/pki"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
	"github.com/vigil-dev/vigil/pkg/ship"
)

// rpcTimeout bounds one status report or draft submission.
const rpcTimeout = 10 * time.Second

// newShipper connects to the collector with the node's certificate files,
// or with the certificate joiner gets by joining (nil without a token file).
func newShipper(cfg Config, log *zap.Logger, reg prometheus.Registerer) (s *ship.Shipper, joiner *agentcert.Joiner, err error) {
	cc := cfg.Collector
	var tlsConfig *tls.Config
	if cc.JoinTokenFile != "" {
		joiner, err = agentcert.New(agentcert.Options{Target: cc.Address, TokenFile: cc.JoinTokenFile, CAFile: cc.CA,
			ServerName: cc.ServerName, Logger: log, Registerer: reg})
		if err != nil {
			return nil, nil, err
		}
		tlsConfig = joiner.TLS()
	} else if tlsConfig, err = pki.ClientTLSFiles(cc.Cert, cc.Key, cc.CA, cc.ServerName); err != nil {
		return nil, nil, fmt.Errorf("collector TLS: %w", err)
	}
	s, err = ship.New(ship.Options{Dir: filepath.Join(cfg.StateDir, "spool"), Target: cc.Address, TLS: tlsConfig,
		Logger: log, Registerer: reg})
	if err != nil {
		return nil, nil, fmt.Errorf("collector shipper: %w", err)
	}
	return s, joiner, nil
}

// reportStatus sends the node's heartbeat: version, kernel, enforcement per
// hook, where opens and connects are seen, every event and loss counter,
// its containers' posture (alerting on a container that starts worse than
// the previous one of its repository), and its approved-images policy.
func (a *Agent) reportStatus(ctx context.Context) {
	policy, sum := a.cfg.Approval.Canonical()
	st := &vigilv1.NodeStatus{
		AgentVersion:   buildinfo.Version,
		Kernel:         kernelRelease(),
		Time:           timestamppb.Now(),
		Counters:       a.shipper.Counters(),
		Enforcement:    enforcementStatus(a.enforcement.Tiers()),
		SensorHooks:    sensorHooks(a.pipeline.Sensor().Hooks()),
		Images:         a.runningImages(),
		ApprovalPolicy: &vigilv1.ApprovalPolicy{Canonical: policy, Sha256: sum},
	}
	if r := a.pipeline.Resolver(); r != nil {
		var alerts []*vigilv1.Alert
		st.Postures, alerts = a.postures.report(a.cfg.Node, r.Containers(), a.capabilitiesUsed())
		for _, al := range alerts {
			a.out.emit(al)
		}
	}
	if ss, err := a.pipeline.Sensor().Stats(); err == nil {
		for _, t := range sensor.BehaviourTypes {
			st.Counters["events_"+t.String()] = ss.Delivered[t]
			st.Counters["lost_ring_buffer_"+t.String()] = ss.LostRingBuffer[t]
			st.Counters["lost_queue_"+t.String()] = ss.DroppedQueue[t]
		}
		st.Counters["decode_errors"] = ss.DecodeErrors
	}
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	// Waits for the connection (within rpcTimeout): the first report goes
	// out while the agent is still connecting.
	if _, err := vigilv1.NewAgentServiceClient(a.shipper.Conn()).ReportStatus(ctx, st, grpc.WaitForReady(true)); err != nil {
		a.log.Warn("report status to the collector", zap.Error(err))
	}
}

// runningImages are the digests the collector takes this node's drafts
// for: of its live containers, and of the drafts it learned from them
// (whose containers may have ended since the last report).
func (a *Agent) runningImages() []string {
	var digests []string
	if r := a.pipeline.Resolver(); r != nil {
		for _, c := range r.Containers() {
			if c.HasImageDigest() {
				digests = append(digests, c.ImageDigest)
			}
		}
	}
	for _, d := range a.engine.Drafts() {
		digests = append(digests, d.Digest())
	}
	slices.Sort(digests)
	return slices.Compact(digests)
}

// hookKinds are the kinds of the agent's hooks and event types, by name.
var hookKinds = map[string]vigilv1.Kind{"exec": vigilv1.Kind_KIND_EXEC, "open": vigilv1.Kind_KIND_OPEN,
	"connect": vigilv1.Kind_KIND_CONNECT, "capability": vigilv1.Kind_KIND_CAPABILITY, "connect_unix": vigilv1.Kind_KIND_CONNECT,
	"io_uring": vigilv1.Kind_KIND_IO_URING}

// enforcementStatus is the tier in force per hook, for the status report.
func enforcementStatus(tiers []enforce.HookTier) []*vigilv1.HookEnforcement {
	protoTier := map[enforce.Tier]vigilv1.Tier{
		enforce.TierLSM:       vigilv1.Tier_TIER_LSM,
		enforce.TierModReturn: vigilv1.Tier_TIER_FMOD_RET,
		enforce.TierFanotify:  vigilv1.Tier_TIER_FANOTIFY,
		enforce.TierCgroup:    vigilv1.Tier_TIER_CGROUP,
		enforce.TierSignal:    vigilv1.Tier_TIER_SIGNAL,
		enforce.TierAlertOnly: vigilv1.Tier_TIER_ALERT_ONLY,
	}
	var out []*vigilv1.HookEnforcement
	for _, t := range tiers {
		out = append(out, &vigilv1.HookEnforcement{Hook: hookKinds[t.Hook], Tier: protoTier[t.Tier], Reason: t.Reason, Name: t.Hook})
	}
	return out
}

// sensorHooks is where the sensor sees opens and connects, for the status
// report.
func sensorHooks(hooks []sensor.Hook) []*vigilv1.SensorHook {
	var out []*vigilv1.SensorHook
	for _, h := range hooks {
		out = append(out, &vigilv1.SensorHook{Kind: hookKinds[h.Type.String()], Attach: h.Attach, Reason: h.Reason})
	}
	return out
}

// submitDrafts hands every draft to the collector, which merges the drafts
// of all nodes per digest.
func (a *Agent) submitDrafts(ctx context.Context) {
	client := vigilv1.NewAgentServiceClient(a.shipper.Conn())
	for _, d := range a.engine.Drafts() {
		doc, err := profile.Encode(d.Profile())
		if err != nil {
			a.log.Error("encode draft", zap.String("digest", d.Digest()), zap.Error(err))
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		_, err = client.SubmitDraft(rctx, &vigilv1.SubmitDraftRequest{ImageDigest: d.Digest(), Image: d.Image(), Yaml: doc})
		cancel()
		if err != nil {
			a.log.Warn("submit draft to the collector", zap.String("digest", d.Digest()), zap.Error(err))
		}
	}
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

#!/usr/bin/env bash
# The main job on one node: a collector with its embedded SQLite store, and
# the agent streaming to it over mTLS. `make run` calls this; as root.
#   RUN_ARGS   extra vigil-agent run flags (e.g. --default-mode monitor)
#   STATE_DIR  where agent drafts, the spool and the collector's database live
#   CERTS      where the test PKI is made (vigilctl finds it there by default)
set -euo pipefail
bin=${BIN:-bin}
state=${STATE_DIR:-/var/lib/vigil}
certs=${CERTS:-$HOME/.config/vigil/certs}
node=$(hostname)

if [[ $(id -u) -ne 0 ]]; then
	echo "run.sh: the agent loads BPF programs: run as root" >&2
	exit 1
fi
install -d -m 0700 "$state" && install -d -m 0750 /var/log/vigil
if [[ ! -f $certs/ca.pem ]]; then
	"$bin/vigilctl" certs --dir "$certs" --node "$node"
fi
if [[ ! -f $certs/$node.pem ]]; then
	echo "run.sh: $certs has a CA but no agent certificate for $node; remove $certs to start afresh" >&2
	exit 1
fi

# Each in a session of its own (setsid), so that a Ctrl-C reaches this
# script alone and stop, below, ends them in order: the agent first, which
# delivers its last alerts, then the collector that takes them.
# One node: its drafts alone make its images' profiles (--draft-min-nodes 1).
setsid "$bin/vigil-collector" --listen 127.0.0.1:7443 --http-listen 127.0.0.1:7080 --draft-min-nodes 1 \
	--tls-cert "$certs/server.pem" --tls-key "$certs/server-key.pem" --client-ca "$certs/ca.pem" \
	--store "sqlite:$state/collector.db" --log-format console &
collector=$!
agent=
stop() {
	trap - EXIT
	if [[ -n $agent ]]; then
		kill -TERM "$agent" 2>/dev/null || true
		wait "$agent" 2>/dev/null || true
	fi
	kill -TERM "$collector" 2>/dev/null || true
	wait "$collector" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "run.sh: collector on 127.0.0.1:7443; watch alerts with: $bin/vigilctl alerts tail" >&2
# shellcheck disable=SC2086 # RUN_ARGS is a list of flags
setsid "$bin/vigil-agent" run --node-name "$node" --state-dir "$state" \
	--collector 127.0.0.1:7443 --collector-server-name localhost \
	--collector-cert "$certs/$node.pem" --collector-key "$certs/$node-key.pem" --collector-ca "$certs/ca.pem" \
	${RUN_ARGS:-} &
agent=$!
wait "$agent"

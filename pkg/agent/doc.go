// Package agent wires the node agent — the event pipeline (package
// pipeline), policy, enforcement, alerts, the shipper and the collector's
// profiles — and runs it. It is the one place that knows every stage; each
// stage knows only its neighbours' small interfaces.
package agent

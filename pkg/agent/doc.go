// Package agent assembles the node agent's pipeline — sensor, process
// table, container attribution, policy, alerts, shipper — and runs it. It is
// the one place that knows every stage; each stage knows only its neighbours'
// small interfaces.
package agent

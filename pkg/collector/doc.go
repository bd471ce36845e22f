// Package collector is vigil's central service: it receives alerts, node
// statuses and draft profiles from agents over mutually authenticated gRPC,
// stores them, fans alerts out to live subscribers and sinks, and serves
// operators (vigilctl) through the consumer API.
//
// Guarantees:
//   - An alert is acknowledged to its agent only once it is committed to the
//     store; each (node, alert id) is stored once, so agents may resend freely.
//   - The node an alert or status belongs to is the common name of the
//     verified client certificate it arrived over, whatever the message says.
//   - Ingestion never waits for a consumer or a sink: each live subscriber
//     and each sink has its own bounded queue, and what does not fit is
//     dropped and counted (vigil_collector_subscriber_dropped_total,
//     vigil_sink_dropped_total); subscribers are told how many they missed.
//   - Malformed alerts are refused one by one with INVALID_ARGUMENT in the
//     acknowledgement; the stream and the other alerts carry on.
package collector

// Package sink forwards stored alerts to outside systems: a JSON-lines file
// and an HTTP webhook speaking Falco's output JSON, so Falcosidekick can fan
// vigil alerts out to its outputs.
//
// A sink runs behind a Queue: the collector hands alerts over without
// waiting, and an alert that does not fit in the queue, or that the sink
// fails to deliver after its retries, is dropped and counted. A slow or dead
// sink never slows ingestion; the store stays the record of every alert.
package sink

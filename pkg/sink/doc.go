// Package sink forwards stored alerts to outside systems: a JSON-lines file
// and an HTTP webhook speaking Falco's output JSON, so Falcosidekick can fan
// vigil alerts out to its outputs.
//
// A sink runs behind a Queue or a Follower. A Queue is fed by the collector
// without waiting: an alert that does not fit in it, or that the sink fails
// to deliver after its retries, is dropped and counted (the JSON-lines
// file). A Follower (package follow, apart so that the agent, which writes
// JSON lines, links no store) reads the store itself, after a cursor it
// keeps there: a receiver that is down only delays delivery, which resumes
// where it stopped, across collector restarts too (the webhook). Either way
// a slow or dead sink never slows ingestion; the store stays the record of
// every alert.
package sink

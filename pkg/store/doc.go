// Package store keeps what the collector receives: alerts, the last status of
// every node, and profiles (canonical YAML with digest, version and mode
// columns) with the per-node drafts they are merged from.
//
// Two backends implement Store over database/sql with the same schema and
// semantics: SQLite through modernc.org/sqlite (pure Go, embedded, the
// default) and PostgreSQL through pgx (the scale-out store). Alerts are stored
// once per (node, id): the agents deliver at least once, and a redelivered
// alert is recognised and not stored again.
package store

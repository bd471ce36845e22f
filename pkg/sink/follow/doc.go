// Package follow delivers every alert the collector stored to a sink, at
// least once, reading the store after a cursor it keeps there (see package
// sink). It is apart from package sink so that what writes alerts to a
// sink without a store, the agent's JSON-lines file, links no database.
package follow

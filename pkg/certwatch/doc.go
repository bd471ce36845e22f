// Package certwatch keeps TLS material read from files current while a
// process runs: cert-manager, the kubelet (a Secret or ConfigMap volume) or
// an operator rewrites the files, and the next handshake uses what they
// hold now, with no restart and no connection dropped.
//
// A Watched value is parsed from its files; Reload reads them again and
// swaps the value in only when their content changed and parses, so a half
// written or broken file keeps the last good value (and says why).
package certwatch

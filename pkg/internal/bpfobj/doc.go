// Package bpfobj holds vigil's BPF objects — the bpf2go output of
// bpf/*.bpf.c, one object per hook family plus the record types they share —
// and loads them: the maps every program shares are created once, and each
// family's programs are loaded on them and attached.
//
// What the programs are for is the business of the packages that use the
// maps: sensor reads the ring buffer and the loss counters, enforce writes
// the policy maps and scopes and pins the enforcing programs. A program
// often serves both (the exec program reports execs and kills on the signal
// tier), which is why they share one set of maps loaded in one place.
package bpfobj

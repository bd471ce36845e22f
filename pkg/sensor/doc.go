// Package sensor observes: it loads vigil's eBPF programs (package bpfobj
// holds them), attaches them to the kernel's exec, open, connect,
// capability and process-lifecycle hooks, and turns the records they write
// to its two ring buffers into typed events: one for containers judged
// against a profile (monitor and enforce modes), read into a queue of its
// own (Sensor.Judged), and one for everything else (Sensor.Events).
//
// The kernel side lives in bpf/ (one .bpf.c per hook family, records defined
// once in bpf/include/vigil.h, mirrored into Go by bpf2go). What the kernel
// decides with the same programs — policy maps, scopes, the LSM and connect
// guard programs, pinning — is package enforce's. Nothing is lost silently:
// every record the kernel could not write, could not be decoded or found
// the event queue full is counted (see Stats and the Prometheus collector
// from Sensor.Collector).
package sensor

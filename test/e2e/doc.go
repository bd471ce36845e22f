// Package e2e holds vigil's end-to-end tests: the real BPF programs on this
// kernel, a private containerd with runc, and the agent's pipeline between
// them. They need root (make test runs them).
package e2e

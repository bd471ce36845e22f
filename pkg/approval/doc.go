// Package approval decides whether a container's image may run on the node:
// from an approved registry or repository, and, when the policy asks, of a
// digest that has a learned profile. The same rules, in CEL, are the
// admission policy shipped beside the DaemonSet (deploy/daemonset/base).
package approval

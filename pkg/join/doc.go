// Package join gives node agents their client certificates without a
// per-node Secret: an agent sends its pod's projected ServiceAccount token
// and a certificate request for a key it made; the collector asks the
// Kubernetes API whether the token is valid (TokenReview, for the join
// audience), that it belongs to the agents' ServiceAccount, and which pod it
// is bound to; it reads that pod (its UID must match the token's, so a
// token of a deleted pod is refused) and signs the request into a
// short-lived agent certificate for the pod's node. The node never comes
// from the request: one node's agent cannot obtain another node's identity.
//
// The certificate is the one the collector's certificate authentication
// already knows (pki: CommonName the node, OU vigil-agent), so nothing
// after the join differs from an agent with a certificate file.
package join

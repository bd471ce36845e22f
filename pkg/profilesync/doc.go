// Package profilesync keeps ImageProfile resources (package profilecr) and
// the collector's profiles in step, from inside the collector, on one
// replica at a time (leader election on a Lease).
//
// Both ways, each side owning its half:
//
//   - spec → store: a changed spec (a new metadata.generation: kubectl
//     apply, a GitOps sync, kubectl patch of spec.mode) is applied through
//     the consumer API's path (collector.ChangeProfile): the same checks as
//     vigilctl (expectVersion, readiness before enforce unless the
//     vigil.dev/force annotation says "true") and the same audit trail,
//     attributed to "kubernetes" with the object, its generation and the
//     field manager that changed it. The outcome is the Synced condition.
//   - store → status: the latest version, its mode, readiness and evidence
//     go to the status subresource only. Learning never rewrites spec, so a
//     GitOps tool that applied the spec never sees it drift.
//
// A profile in the store with no object gets one, labelled as the
// collector's, with no allowlists (it follows the store's versions; a change
// of its mode promotes the latest): `kubectl get imageprofiles` lists every
// image the collector knows. The collector never deletes an object, and a
// deleted one comes back as such a mirror while the profile exists (the
// versions are the audit trail; a profile is not deleted). GitOps tools
// prune only what they applied, which a mirror is not.
package profilesync

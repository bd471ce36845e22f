// Package profilecr converts between vigil's profiles and the ImageProfile
// custom resource (vigil.dev/v1, cluster-scoped, one object per image
// digest, named after it: sha256-<hex>).
//
// The resource's spec is the desired state, in the profile document's own
// schema: the document's metadata fields that an operator decides (image,
// digest, mode, inheritedFrom) beside its five allowlists, without evidence
// (learned data changes with every learning cycle; a manifest holding it
// would never stay applied). A spec without any allowlist key changes only
// the mode of the collector's latest version; one with allowlist keys is
// imported as the next version, as `vigilctl profiles import` imports a
// file. expectVersion, when set, refuses the change unless it is still the
// latest version, as --expect-version does.
//
// The status is the collector's: the latest version, its mode, whether its
// evidence makes it ready to enforce and why not, a summary of that
// evidence, and conditions.
package profilecr

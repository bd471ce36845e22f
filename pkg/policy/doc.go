// Package policy is the decision stage of the agent: for each attributed
// event of a container it finds the image's mode (learn, monitor, enforce)
// and either folds the behaviour into the image's draft profile or checks it
// against the profile in force and reports a violation. Engine.Judge is
// that check alone, the one decision every enforcement tier makes too.
//
// Profiles are keyed by image digest; events of the host, of containers
// whose digest is unknown, and of unattributed cgroups are never matched
// against a profile (they are counted, and unattributed ones mark every
// draft being learned as possibly incomplete).
package policy

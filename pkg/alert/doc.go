// Package alert turns policy violations into alerts: it builds the alert
// with everything security operations need (node, container, process and
// ancestry, the behaviour, the rule it broke, the profile version, the action
// taken), gives it a stable id, and deduplicates repeats of the same
// behaviour within a window into a count instead of throttling them away.
package alert

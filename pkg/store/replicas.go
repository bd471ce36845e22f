package store

import (
	"context"
	"time"
)

// AlertNotifier is implemented by a store that several collectors share:
// it tells each of them when any of them stored alerts, so that every
// replica's live tail shows every alert.
type AlertNotifier interface {
	// ListenAlerts calls wake with the newest sequence number stored each
	// time alerts are stored, by any collector, until ctx ends or the
	// connection fails (the error says why; call it again). Notifications
	// sent while no connection listens are lost, so once listening it
	// calls wake(0) first: the caller reads the store after its cursor.
	ListenAlerts(ctx context.Context, wake func(seq int64)) error
}

// ProfileNotifier is implemented by a store that several collectors share:
// it tells each of them of the profile versions any of them stored, so that
// every agent hears of a promotion whichever replica it is connected to.
type ProfileNotifier interface {
	// ListenProfiles calls changed with the image digest of each profile
	// version stored, until ctx ends or the connection fails (the error
	// says why; call it again). Once listening it calls changed("")
	// first: any profile may have changed while no connection listened.
	ListenProfiles(ctx context.Context, changed func(digest string)) error
}

// Leader is implemented by a store that several collectors share: it
// elects the one that runs the cluster-wide chores (retention, the sinks
// that deliver from the store).
type Leader interface {
	// Lead blocks until this process holds the leadership of role, or ctx
	// ends. The context it returns ends when the leadership is lost or ctx
	// ends; release gives it up. check is how often the holder checks that it
	// still holds it, and how often a waiting one tries again.
	Lead(ctx context.Context, role int64, check time.Duration) (held context.Context, release func(), err error)
}

// ProfileLocker is implemented by a store that several collectors share:
// it makes them take turns at making a digest's versions. A merge reads
// every node's draft and the latest version and writes the next one; two
// replicas merging one digest at once would each build on what the other
// had not yet stored, and the later version would miss a node's entries.
type ProfileLocker interface {
	// LockProfile blocks until no other collector holds digest's lock, or
	// ctx ends, and takes it; unlock frees it. The lock is also freed when
	// ctx ends or this process's connection to the store dies.
	LockProfile(ctx context.Context, digest string) (unlock func(), err error)
}

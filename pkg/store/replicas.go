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
// elects the one that runs the cluster-wide chores (retention).
type Leader interface {
	// Lead blocks until this process holds the leadership of role, or ctx
	// ends. The context it returns ends when the leadership is lost or ctx
	// ends; release gives it up. check is how often the holder checks that it
	// still holds it, and how often a waiting one tries again.
	Lead(ctx context.Context, role int64, check time.Duration) (held context.Context, release func(), err error)
}

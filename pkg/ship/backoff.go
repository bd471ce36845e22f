package ship

import (
	"math/rand/v2"
	"time"
)

// backoff doubles a wait from min to max; each wait is drawn from its
// upper half (jitter), so a fleet of agents does not reconnect in step.
type backoff struct {
	min, max, next time.Duration
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, next: min}
}

// wait returns the next wait and doubles the one after.
func (b *backoff) wait() time.Duration {
	w := b.next/2 + rand.N(b.next/2+1)
	b.next = min(b.next*2, b.max)
	return w
}

// reset starts again from min (after a connection that worked).
func (b *backoff) reset() { b.next = b.min }

package testutil

import (
	"context"
	"testing"
)

// RunUntilCleanup runs run in the background until the test ends: then its
// context is cancelled and its error, if any, fails the test.
func RunUntilCleanup(tb testing.TB, what string, run func(context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("%s: %v", what, err)
		}
	})
}

package qlikapi

import (
	"context"
	"time"
)

// Every calls ask now and then, after each call has returned, once more
// every interval until ctx is done; a call under way sees ctx end (the
// pollers of the proxies' sessions, the repository's app list and licences
// stop that way). The rest is counted from the end of a call, so a call that
// takes longer than the interval (a huge answer to decode) is never followed
// at once by the next (with a ticker such polls ran back to back and took a
// core). Reset drops a tick that fired during the call (Go 1.23 timers).
func Every(ctx context.Context, interval time.Duration, ask func(context.Context)) {
	rest := time.NewTimer(interval)
	defer rest.Stop()
	for {
		ask(ctx)
		if ctx.Err() != nil {
			return
		}
		rest.Reset(interval)
		select {
		case <-ctx.Done():
			return
		case <-rest.C:
		}
	}
}

package qlikapi

import (
	"context"
	"time"
)

// Every calls ask now and then every interval until ctx is done; a call
// under way sees ctx end (the pollers of the repository's app list and
// licences stop that way).
func Every(ctx context.Context, interval time.Duration, ask func(context.Context)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		ask(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

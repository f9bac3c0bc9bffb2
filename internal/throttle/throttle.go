// Package throttle lets a kind of log line out at most once per period and
// counts the lines it held back, so that a flood of one complaint cannot
// flood the log. What a line says, and how it mentions the held-back ones,
// is the caller's.
package throttle

import (
	"sync"
	"time"
)

// Throttle is one kind of line. Its zero value lets the first line out.
type Throttle struct {
	mu   sync.Mutex
	last time.Time
	held int
}

// Allow says whether a line may go out at now: not if one went out less
// than period before, and then it counts the line as held back. When it
// may, held is how many were held back since the last one went out.
func (t *Throttle) Allow(now time.Time, period time.Duration) (ok bool, held int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < period {
		t.held++
		return false, 0
	}
	held = t.held
	t.last, t.held = now, 0
	return true, held
}

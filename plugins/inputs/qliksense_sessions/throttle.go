package qliksense_sessions

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/influxdata/telegraf"
)

// throttledLog logs each kind of complaint at most once per period, so that a
// flood of bad datagrams cannot flood the log; it says how many it held back.
type throttledLog struct {
	logger telegraf.Logger
	period time.Duration
	now    func() time.Time

	mu    sync.Mutex
	kinds map[string]*throttleKind
}

type throttleKind struct {
	last       time.Time
	suppressed int
}

func newThrottledLog(log telegraf.Logger, period time.Duration) *throttledLog {
	return &throttledLog{logger: log, period: period, now: time.Now, kinds: make(map[string]*throttleKind)}
}

// log warns with the message unless a message of the same kind went out
// within the period.
func (t *throttledLog) log(kind, format string, args ...interface{}) {
	t.mu.Lock()
	k := t.kinds[kind]
	if k == nil {
		k = &throttleKind{}
		t.kinds[kind] = k
	}
	now := t.now()
	if !k.last.IsZero() && now.Sub(k.last) < t.period {
		k.suppressed++
		t.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.last, k.suppressed = now, 0
	t.mu.Unlock()

	msg := fmt.Sprintf(format, args...)
	if suppressed > 0 {
		msg += " (" + strconv.Itoa(suppressed) + " more like it in the last " + t.period.String() + ")"
	}
	t.logger.Warn(msg)
}

// excerpt quotes the start of a payload for a log line.
func excerpt(payload []byte) string {
	const maxExcerpt = 120
	if len(payload) > maxExcerpt {
		return strconv.Quote(string(payload[:maxExcerpt])) + "..."
	}
	return strconv.Quote(string(payload))
}

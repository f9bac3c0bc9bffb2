package qliksense_sessions

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
)

// throttledLog logs each kind of complaint at most once per period, so that a
// flood of bad datagrams cannot flood the log; it says how many it held back.
type throttledLog struct {
	logger telegraf.Logger
	period time.Duration
	now    func() time.Time

	mu    sync.Mutex
	kinds map[string]*throttle.Throttle
}

func newThrottledLog(log telegraf.Logger, period time.Duration) *throttledLog {
	return &throttledLog{logger: log, period: period, now: time.Now, kinds: make(map[string]*throttle.Throttle)}
}

// log warns with the message unless a message of the same kind went out
// within the period.
func (t *throttledLog) log(kind, format string, args ...interface{}) {
	t.mu.Lock()
	k := t.kinds[kind]
	if k == nil {
		k = &throttle.Throttle{}
		t.kinds[kind] = k
	}
	t.mu.Unlock()
	ok, suppressed := k.Allow(t.now(), t.period)
	if !ok {
		return
	}
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

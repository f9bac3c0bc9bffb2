package throttle

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Warner is where a Log's lines go (telegraf.Logger has it).
type Warner interface {
	Warn(args ...interface{})
}

// Log warns with each kind of complaint at most once per period, so that a
// flood of bad datagrams cannot flood the log; it says how many it held
// back. It is safe for concurrent use.
type Log struct {
	logger Warner
	period time.Duration
	now    func() time.Time

	mu    sync.Mutex
	kinds map[string]*Throttle
}

// NewLog makes a Log that writes to logger.
func NewLog(logger Warner, period time.Duration) *Log {
	return &Log{logger: logger, period: period, now: time.Now, kinds: make(map[string]*Throttle)}
}

// SetClock replaces the clock (tests).
func (t *Log) SetClock(now func() time.Time) { t.now = now }

// Warnf warns with the message unless a message of the same kind went out
// within the period.
func (t *Log) Warnf(kind, format string, args ...interface{}) {
	t.mu.Lock()
	k := t.kinds[kind]
	if k == nil {
		k = &Throttle{}
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

// Excerpt quotes the start of a payload for a log line.
func Excerpt(payload []byte) string {
	const maxExcerpt = 120
	if len(payload) > maxExcerpt {
		return strconv.Quote(string(payload[:maxExcerpt])) + "..."
	}
	return strconv.Quote(string(payload))
}

package throttle

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLog(t *testing.T) {
	var logged []string
	log := warnFunc(func(msg string) { logged = append(logged, msg) })
	throttle := NewLog(log, time.Minute)
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	throttle.SetClock(func() time.Time { return now })

	throttle.Warnf("malformed", "bad %d", 1)
	throttle.Warnf("malformed", "bad %d", 2)
	throttle.Warnf("malformed", "bad %d", 3)
	throttle.Warnf("oversize", "big")
	now = now.Add(time.Minute)
	throttle.Warnf("malformed", "bad %d", 4)
	require.Equal(t, []string{"bad 1", "big", "bad 4 (2 more like it in the last 1m0s)"}, logged)
}

type warnFunc func(string)

func (f warnFunc) Warn(args ...interface{}) { f(fmt.Sprint(args...)) }

func TestExcerpt(t *testing.T) {
	require.Equal(t, `"a;b"`, Excerpt([]byte("a;b")))
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'x'
	}
	require.Equal(t, `"`+string(long[:120])+`"...`, Excerpt(long))
}

package throttle

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	var th Throttle
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	type answer struct {
		ok   bool
		held int
	}
	check := func(at time.Time, want answer) {
		t.Helper()
		if ok, held := th.Allow(at, time.Minute); (answer{ok, held}) != want {
			t.Fatalf("at %v: got %v, %d, want %+v", at, ok, held, want)
		}
	}
	check(now, answer{true, 0})
	check(now.Add(time.Second), answer{false, 0})
	check(now.Add(59*time.Second), answer{false, 0})
	check(now.Add(time.Minute), answer{true, 2})
	check(now.Add(3*time.Minute), answer{true, 0})
}

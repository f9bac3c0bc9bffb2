package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Remembered early stops are bounded.
func TestEarlyStopsAreBounded(t *testing.T) {
	s := New(Config{ReorderWindow: time.Hour})
	for i := 0; i < maxEarlyStops+10; i++ {
		e := event.Event{Server: "SENSE1", Command: stop, Directory: "LAB", UserID: fmt.Sprint("user", i)}
		s.Apply(&e, t0)
	}
	require.Len(t, s.early, maxEarlyStops)
	// Once they are old, room is made.
	e := event.Event{Server: "SENSE1", Command: stop, Directory: "LAB", UserID: "late"}
	s.Apply(&e, t0.Add(2*time.Hour))
	require.Len(t, s.early, 1)
}

// A flood of stops without starts fills the early stops; they are not swept
// again at every further stop (which would cost the whole map each time),
// but at most once a second.
func BenchmarkEarlyStopsFull(b *testing.B) {
	s := New(Config{ReorderWindow: time.Hour})
	for i := 0; i < maxEarlyStops; i++ {
		e := event.Event{Server: "SENSE1", Command: stop, Directory: "LAB", UserID: fmt.Sprint("user", i)}
		s.Apply(&e, t0)
	}
	e := event.Event{Server: "SENSE1", Command: stop, Directory: "LAB", UserID: "flood"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := e
		s.Apply(&ev, t0.Add(time.Duration(i)*time.Microsecond))
	}
}

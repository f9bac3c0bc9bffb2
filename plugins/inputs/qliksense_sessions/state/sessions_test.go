package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// ev is one event of a race story: at ms milliseconds, a command of
// LAB\anna on SENSE1, in the session id (connections over UDP, every event
// in the log files).
type ev struct {
	ms      int
	cmd     event.Command
	id      string
	want    Outcome
	session int           // anna's open sessions after the event
	lasted  time.Duration // the duration a Stop must report
}

func TestReorderedEvents(t *testing.T) {
	const window = 5 * time.Second
	tests := []struct {
		name     string
		window   time.Duration
		story    []ev
		counters Counters
	}{
		{
			name: "a connection overtakes its Start: the Start takes the session over, the Stop ends it",
			story: []ev{
				{ms: 0, cmd: open, id: "s1", want: Changed, session: 1},
				{ms: 3, cmd: start, want: Unchanged, session: 1},
				{ms: 60_000, cmd: stop, want: Changed, session: 0, lasted: 60 * time.Second},
			},
			counters: Counters{SessionsInferred: 1, StartsMatched: 1},
		},
		{
			name: "without a window the same traffic leaves a ghost",
			story: []ev{
				{ms: 0, cmd: open, id: "s1", want: Changed, session: 1},
				{ms: 3, cmd: start, want: Changed, session: 2},
				{ms: 60_000, cmd: stop, want: Changed, session: 1},
			},
			window:   -1,
			counters: Counters{SessionsInferred: 1},
		},
		{
			name: "a Start after the window is another session",
			story: []ev{
				{ms: 0, cmd: open, id: "s1", want: Changed, session: 1},
				{ms: 6000, cmd: start, want: Changed, session: 2},
			},
			counters: Counters{SessionsInferred: 1},
		},
		{
			name: "a very short session's Stop overtakes its Start",
			story: []ev{
				{ms: 0, cmd: stop, want: OrphanStop, session: 0},
				{ms: 2, cmd: start, want: Unchanged, session: 0},
				{ms: 10, cmd: start, want: Changed, session: 1},
			},
			counters: Counters{StopsWithoutStart: 1, StartsCancelled: 1},
		},
		{
			name: "a Stop of long ago cancels no Start",
			story: []ev{
				{ms: 0, cmd: stop, want: OrphanStop, session: 0},
				{ms: 5001, cmd: start, want: Changed, session: 1},
			},
			counters: Counters{StopsWithoutStart: 1},
		},
		{
			name: "connection, Stop, then the Start of one short session",
			story: []ev{
				{ms: 0, cmd: open, id: "s1", want: Changed, session: 1},
				{ms: 1, cmd: stop, want: Changed, session: 0},
				{ms: 2, cmd: start, want: Unchanged, session: 0},
			},
			counters: Counters{SessionsInferred: 1, StartsCancelled: 1},
		},
		{
			name: "two sessions that began before we listened are told apart by their connections",
			story: []ev{
				{ms: 0, cmd: open, id: "s1", want: Changed, session: 1},
				{ms: 10, cmd: open, id: "s1", want: Unchanged, session: 1},
				{ms: 20, cmd: open, id: "s2", want: Changed, session: 2},
				{ms: 30, cmd: closeConn, id: "s1", want: Unchanged, session: 2},
				{ms: 10_000, cmd: stop, want: Changed, session: 1},
				{ms: 20_000, cmd: stop, want: Changed, session: 0},
			},
			counters: Counters{SessionsInferred: 2},
		},
		{
			name: "connections name the sessions that Starts without an id opened",
			story: []ev{
				{ms: 0, cmd: start, want: Changed, session: 1},
				{ms: 10_000, cmd: start, want: Changed, session: 2},
				{ms: 20_000, cmd: open, id: "s1", want: Unchanged, session: 2},
				{ms: 30_000, cmd: open, id: "s2", want: Unchanged, session: 2},
				{ms: 40_000, cmd: open, id: "s3", want: Changed, session: 3},
			},
			counters: Counters{SessionsInferred: 1},
		},
		{
			// s1's Stop is taken for s2's (both have open connections):
			// s1's next connection names it again instead of counting a
			// session that is not there.
			name: "a Stop that ended another session than the one picked leaves no ghost",
			story: []ev{
				{ms: 0, cmd: start, want: Changed, session: 1},
				{ms: 10_000, cmd: open, id: "s1", want: Unchanged, session: 1},
				{ms: 20_000, cmd: start, want: Changed, session: 2},
				{ms: 30_000, cmd: open, id: "s2", want: Unchanged, session: 2},
				{ms: 40_000, cmd: stop, want: Changed, session: 1},
				{ms: 50_000, cmd: open, id: "s1", want: Unchanged, session: 1},
				{ms: 60_000, cmd: open, id: "s2", want: Changed, session: 2},
			},
			counters: Counters{SessionsInferred: 1},
		},
		{
			name: "connections without an id: the legacy rules, within the window too",
			story: []ev{
				{ms: 0, cmd: open, want: Changed, session: 1},
				{ms: 1, cmd: start, want: Unchanged, session: 1},
				{ms: 2, cmd: open, want: Unchanged, session: 1},
				{ms: 3, cmd: start, want: Changed, session: 2},
				{ms: 4, cmd: stop, want: Changed, session: 1},
				{ms: 5, cmd: stop, want: Changed, session: 0, lasted: 5 * time.Millisecond},
			},
			counters: Counters{SessionsInferred: 1, StartsMatched: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := window
			if tt.window != 0 {
				w = max(tt.window, 0)
			}
			s := New(Config{ReorderWindow: w})
			for i, e := range tt.story {
				event := event.Event{Server: "SENSE1", Command: e.cmd, Directory: "LAB", UserID: "anna", SessionID: e.id}
				require.Equal(t, e.want, s.Apply(&event, t0.Add(time.Duration(e.ms)*time.Millisecond)), "event %d", i)
				require.Equal(t, e.session, s.ActiveSessions(), "sessions after event %d", i)
				require.Equal(t, e.lasted, event.Duration, "duration of event %d", i)
			}
			require.Equal(t, tt.counters, s.Counters())
		})
	}
}

// The log files name every event's session: durations are exact per
// session, and a Stop ends the very session it names.
func TestSessionsByIDFromLogFiles(t *testing.T) {
	s := New(Config{ReorderWindow: 5 * time.Second})
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	apply := func(cmd event.Command, id string, sec int) event.Event {
		e := event.Event{Server: "SENSE1", Command: cmd, Directory: "LAB", UserID: "anna", SessionID: id}
		s.Apply(&e, at(sec))
		return e
	}
	apply(start, "a", 0)
	apply(start, "b", 10)
	apply(open, "a", 20)
	apply(open, "c", 30) // began before the file did: proved by its connection
	require.Equal(t, 3, s.ActiveSessions())
	require.Equal(t, 60*time.Second, apply(stop, "b", 70).Duration)
	require.Equal(t, 100*time.Second, apply(stop, "a", 100).Duration)
	require.Zero(t, apply(stop, "c", 110).Duration, "c's start was not seen")
	require.Zero(t, s.ActiveSessions())
	require.Equal(t, OrphanStop, func() Outcome {
		e := event.Event{Server: "SENSE1", Command: stop, Directory: "LAB", UserID: "anna", SessionID: "a"}
		return s.Apply(&e, at(120))
	}())
	// A Stop with an id never cancels a later Start: the files keep order.
	apply(start, "d", 121)
	require.Equal(t, 1, s.ActiveSessions())
}

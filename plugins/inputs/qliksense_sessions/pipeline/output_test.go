package pipeline

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// lineOutput is a BoundedAdder as the execd binary's: what it takes, lines
// and metrics serialised (fields sorted), in order; refuse makes it take
// nothing, and waits are the waits it was given.
type lineOutput struct {
	testutil.Accumulator
	t      testing.TB
	mu     sync.Mutex
	out    strings.Builder
	refuse bool
	waits  []time.Duration
}

func sortedLine(t testing.TB, m telegraf.Metric) string {
	serializer := &influx.Serializer{SortFields: true}
	require.NoError(t, serializer.Init())
	line, err := serializer.Serialize(m)
	require.NoError(t, err)
	return string(line)
}

func (o *lineOutput) AddMetricWithin(m telegraf.Metric, wait time.Duration) bool {
	return o.take(sortedLine(o.t, m), wait)
}

func (o *lineOutput) AddLinesWithin(lines []byte, wait time.Duration) bool {
	return o.take(string(lines), wait)
}

func (o *lineOutput) take(lines string, wait time.Duration) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits = append(o.waits, wait)
	if o.refuse {
		return false
	}
	o.out.WriteString(lines)
	return true
}

func linesTestPipeline(t *testing.T, acc telegraf.Accumulator, butlerSummaries bool) *Pipeline {
	p := New(Config{State: state.Config{MaxUsers: 100, MaxServers: 10, MaxApps: 100, MaxUserSessions: 100},
		EmitEvents: true, EventMessage: true, ButlerSummaries: butlerSummaries, UsersMaxBytes: 1 << 20, StateSaveInterval: time.Hour,
		Log: testutil.Logger{}, Throttle: throttle.NewLog(testutil.Logger{}, time.Minute)})
	p.Start(acc)
	t.Cleanup(p.Stop)
	return p
}

// linesTestEvents are datagrams and rows of every command, one with what
// line protocol escapes.
func linesTestEvents() []event.Parsed {
	at := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	datagram := event.Origin{Addr: netip.MustParseAddr("10.0.0.11"), Received: at}
	row := event.Origin{Path: "/logs/AuditActivity_Proxy.txt"}
	ev := func(cmd event.Command, user, context string) event.Event {
		return event.Event{Server: "SENSE1", Command: cmd, Directory: "LAB", UserID: user, Origin: "AppAccess", Context: context,
			Message: cmd.String() + ` for user 'LAB\` + user + "'"}
	}
	rowEvent := ev(event.StartSession, "rowuser", "/hub/")
	rowEvent.Server, rowEvent.Time, rowEvent.SessionID = "SENSE2", at.Add(time.Second), "s1"
	rowStop := rowEvent
	rowStop.Command, rowStop.Time, rowStop.Message = event.StopSession, at.Add(time.Hour), "Stop session"
	return []event.Parsed{
		{Event: ev(event.StartSession, "anna", "/hub/"), From: datagram},
		{Event: ev(event.OpenConnection, "anna", "/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d"), From: datagram},
		{Event: ev(event.StartSession, `bo b,"x"\`, "/hub/"), From: datagram},
		{Event: rowEvent, From: row},
		{Event: ev(event.CloseConnection, "anna", "/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d"), From: datagram},
		{Event: rowStop, From: row},
		{Event: ev(event.StopSession, "anna", "/hub/"), From: datagram},
	}
}

// TestEventLinesAreTheEventMetrics: with an output that takes lines, the
// event lines (and Butler's counts after them) are what the event metrics
// would have been, as the serializer writes them, in the same order.
func TestEventLinesAreTheEventMetrics(t *testing.T) {
	for _, butlerSummaries := range []bool{false, true} {
		var acc testutil.Accumulator
		viaMetrics := linesTestPipeline(t, &acc, butlerSummaries)
		lines := &lineOutput{t: t}
		viaLines := linesTestPipeline(t, lines, butlerSummaries)
		require.True(t, viaLines.WritesLines())
		require.False(t, viaMetrics.WritesLines())
		for _, in := range linesTestEvents() {
			for _, p := range []*Pipeline{viaMetrics, viaLines} {
				in := in
				p.Handle(&in)
			}
		}
		var want strings.Builder
		for _, m := range acc.GetTelegrafMetrics() {
			if strings.HasPrefix(m.Name(), metrics.Event) || strings.HasSuffix(m.Name(), "_butler") {
				want.WriteString(sortedLine(t, m))
			}
		}
		require.Equal(t, 7, strings.Count(want.String(), metrics.Event+","))
		require.Equal(t, butlerSummaries, strings.Contains(want.String(), "_butler"))
		require.Equal(t, want.String(), lines.out.String(), "butler_summaries %t", butlerSummaries)
		require.Empty(t, lines.GetTelegrafMetrics(), "nothing went to the accumulator itself")
	}
}

// TestEventLinesShedWhenOutputBlocked: an output that takes nothing costs
// the first event line one wait and every next none; they are counted in
// metrics_dropped_output_blocked, and the state goes on.
func TestEventLinesShedWhenOutputBlocked(t *testing.T) {
	lines := &lineOutput{t: t, refuse: true}
	p := linesTestPipeline(t, lines, false)
	for _, in := range linesTestEvents()[:3] {
		p.Handle(&in)
	}
	require.Equal(t, []time.Duration{outputWait, 0, 0}, lines.waits)
	require.Equal(t, uint64(3), p.droppedOutputBlocked.Load())
	require.Equal(t, 2, p.ActiveUsers())
	lines.refuse = false
	in := linesTestEvents()[1]
	p.Handle(&in)
	in = linesTestEvents()[4]
	p.Handle(&in)
	require.Equal(t, []time.Duration{outputWait, 0, 0, 0, outputWait}, lines.waits, "a line taken ends the shedding")
}

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

const summaryLines = `qliksense_users,trigger=change active_users=2i,active_sessions=3i,users="[\"LAB\\\\anna\",\"LAB\\\\bob\"]" 1
qliksense_users_server,server=SENSE1,trigger=change active_users=2i,active_sessions=3i,users="[\"LAB\\\\anna\",\"LAB\\\\bob\"]" 1
qliksense_users_server,server=SENSE2,trigger=change active_users=0i,active_sessions=0i,users="[]" 1
qliksense_users_app,app_id=0ec60c87-2c84-407b-918c-0748b16f2b19,trigger=change active_users=1i,active_connections=2i,users="[\"LAB\\\\anna\"]" 1
qliksense_sessions_internal tracked_users=2i,tracked_sessions=3i 1
`

func TestCompare(t *testing.T) {
	out := newOutput()
	out.consume(strings.NewReader(summaryLines))
	require.Equal(t, int64(2), out.internalFields()["tracked_users"])
	want := replay.Expected{ActiveUsers: 2, ActiveSessions: 3, Users: []string{`LAB\anna`, `LAB\bob`},
		Servers: []replay.ServerExpected{{Server: "SENSE1", ActiveUsers: 2, ActiveSessions: 3, Users: []string{`LAB\anna`, `LAB\bob`}}},
		Apps:    []replay.AppExpected{{App: "0EC60C87-2C84-407B-918C-0748B16F2B19", ActiveUsers: 1, ActiveConnections: 2, Users: []string{`LAB\anna`}}}}
	c := out.compare(want)
	require.True(t, c.ok(), "%v", c.diffs)
	require.Equal(t, 1, c.serversOK)
	require.Equal(t, 1, c.appsOK)

	// A user too many on a server, a connection too few, a server the
	// expectation lacks.
	want.Servers[0].Users = []string{`LAB\anna`, `LAB\bob`, `LAB\carl`}
	want.Servers[0].ActiveUsers = 3
	want.Apps[0].ActiveConnections = 3
	out.consume(strings.NewReader(`qliksense_users_server,server=SENSE3,trigger=change active_users=1i,active_sessions=1i,users="[\"LAB\\\\x\"]" 2` + "\n"))
	c = out.compare(want)
	require.False(t, c.ok())
	text := strings.Join(c.diffs, "\n")
	require.Contains(t, text, `server SENSE1: 2 users / 3 sessions, expected 3 / 3`)
	require.Contains(t, text, `missing ["LAB\\carl"]`)
	require.Contains(t, text, `0EC60C87-2C84-407B-918C-0748B16F2B19: 1 users / 2 connections, expected 1 / 3`)
	require.Contains(t, text, `server SENSE3: 1 users / 1 sessions, expected none`)
}

// level makes the samples of a traffic of events at 10 per sample, RSS
// from rssAt.
func level(events int, rssAt func(sent int) float64) []sample {
	var out []sample
	for sent := 0; sent <= events; sent += 10 {
		out = append(out, sample{at: time.Duration(sent) * time.Second, sent: int64(sent), users: 100, sessions: 200, rssKiB: rssAt(sent)})
	}
	return append(out, sample{at: time.Duration(events+100) * time.Second, phase: phaseSettle, sent: int64(events), users: 10, sessions: 20, rssKiB: rssAt(0)})
}

func TestMemoryVerdict(t *testing.T) {
	flat := level(1000, func(sent int) float64 { return 40 << 10 * (1 + 0.02*float64(sent%30)/30) })
	ok, text := memoryVerdict(flat, 1000, 0.1)
	require.True(t, ok, text)
	slope, n := trend(window(flat, 1000, 0.25, 1.01))
	require.Greater(t, n, 10)
	require.InDelta(t, 0, slope, 1)

	growing := level(1000, func(sent int) float64 { return 40<<10 + float64(sent)*30 }) // 30 KiB per event
	ok, text = memoryVerdict(growing, 1000, 0.1)
	require.False(t, ok, text)
	require.Contains(t, text, "FAIL memory, traffic")
	slope, _ = trend(window(growing, 1000, 0.25, 1.01))
	require.InDelta(t, 30, slope, 0.01)
}

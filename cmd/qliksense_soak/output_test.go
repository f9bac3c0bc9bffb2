package main

import (
	"strings"
	"testing"

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

package main

import (
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/log4net"
)

// TestHostileKinds: each kind of hostile datagram is what the accounting
// takes it for, by the plugin's own parser: oversize ones pass
// max_datagram_size, malformed ones are malformed, unknown commands
// ignored, and the rest accepted, with the session ids and users that the
// state's limits refuse.
func TestHostileKinds(t *testing.T) {
	lim := hostileLimits{maxDatagram: 8192, maxUsers: 100, maxUserSessions: 5, maxApps: 10}
	h := newHostile(lim, 1)
	var parser log4net.Parser
	var p event.Parsed
	seen := make(map[kind]int)
	check := func(k kind, b []byte) {
		t.Helper()
		seen[k]++
		if k == kindOversize {
			require.Greater(t, len(b), lim.maxDatagram)
			require.LessOrEqual(t, len(b), maxUDPPayload)
			return
		}
		require.LessOrEqual(t, len(b), lim.maxDatagram, "%s", kindNames[k])
		parser.Parse(b, &p)
		if k != kindExcluded { // accepted by the parser, excluded after it
			require.Equal(t, k.accepted(), p.Status == event.Accepted, "%s", kindNames[k])
		}
		switch k {
		case kindMalformed:
			require.Equal(t, event.Malformed, p.Status, "%q", b)
		case kindUnknownCommand:
			require.Equal(t, event.Ignored, p.Status, "%q", b)
		default:
			require.Equal(t, event.Accepted, p.Status, "%s: %q: %s", kindNames[k], b, p.Reason)
			require.Equal(t, hostileDirectory, p.Event.Directory)
			require.True(t, strings.HasPrefix(p.Event.Server, "hostile-"), p.Event.Server)
		}
		switch k {
		case kindExcluded:
			require.True(t, strings.HasPrefix(p.Event.UserID, "excluded"))
		case kindLongID:
			require.Greater(t, len(p.Event.SessionID), maxSessionID)
		case kindIDFlood:
			require.NotEmpty(t, p.Event.SessionID)
			require.LessOrEqual(t, len(p.Event.SessionID), maxSessionID)
		case kindPassing:
			require.Contains(t, p.Event.Message, "\n"+forgedLine)
		}
	}
	// Which kind each datagram an action queues is: the counts tell.
	queue := func(action func()) {
		before := h.sent
		action()
		var got [][]byte
		for h.pending() {
			got = append(got, h.next())
		}
		i := 0
		for k := range kinds {
			for range h.sent[k] - before[k] {
				check(k, got[i])
				i++
			}
		}
		require.Len(t, got, i)
	}
	for range 5000 {
		queue(h.mix)
	}
	for k := range kindAppPassing + 1 {
		require.Positive(t, seen[k], kindNames[k])
	}
	queue(func() {
		h.appBurst(1, 20)
		h.crowdBurst(1, 150)
		h.closeAll()
	})
	require.Equal(t, int64(20*2+1), h.sent[kindAppBurst])
	require.Equal(t, int64(150*2), h.sent[kindCrowd])
	require.Equal(t, int64(idFloodUsers*lim.maxUserSessions+1), h.sent[kindClose], "each id-flood user's sessions the state took, and the passing apps' one")
	require.Positive(t, h.refusedMaxUserSessions())
}

// TestAccount: the accounting passes when every counter is what the
// datagrams sent must have made of it, and fails on any one off, or on a
// line of output that is no metric.
func TestAccount(t *testing.T) {
	h := &hostileRun{lim: hostileLimits{maxDatagram: 8192, maxUsers: 100, maxUserSessions: 5, maxApps: 10}}
	h.gen = newHostile(h.lim, 1)
	for range 1000 {
		h.gen.mix()
	}
	h.gen.crowdBurst(1, 120)
	h.gen.appBurst(1, 15)
	h.refusedUsers, h.refusedApps = 20, 5
	const sim = 5000
	sent := int64(sim)
	accepted := int64(sim)
	for k := range kinds {
		sent += h.gen.sent[k]
		if k.accepted() {
			accepted += h.gen.sent[k]
		}
	}
	good := map[string]int64{
		"datagrams_received": sent, "datagrams_dropped": 0, "rejected_source": 0,
		"oversize": h.gen.sent[kindOversize], "malformed": h.gen.sent[kindMalformed],
		"events_ignored": h.gen.sent[kindUnknownCommand], "events_excluded": h.gen.sent[kindExcluded],
		"events_accepted": accepted, "events_refused_session_id_length": h.gen.sent[kindLongID],
		"events_refused_max_user_sessions": h.gen.refusedMaxUserSessions(), "events_refused_max_users": 20,
		"connections_refused_max_apps": 5, "events_refused_max_servers": 0, "metrics_dropped_output_blocked": 0,
	}
	ok, text := h.account(good, sim, sent, 0)
	require.True(t, ok, text)
	require.NotContains(t, text, "FAIL")

	_, text = h.account(good, sim, sent, 1)
	require.Contains(t, text, "FAIL output: 1 lines")
	for counter := range good {
		off := maps.Clone(good)
		off[counter]++
		ok, text := h.account(off, sim, sent, 0)
		require.False(t, ok, "%s one off:\n%s", counter, text)
	}
}

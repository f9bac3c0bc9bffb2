package qliksense_sessions

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// A users list that would pass users_max_bytes is cut to whole names in
// order and flagged; the counts stay exact.
func TestUsersListIsCutToUsersMaxBytes(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.UsersMaxBytes = config.Size(100)
	payloads := make([]string, 20)
	for i := range payloads {
		payloads[i] = startPayload("SENSE1", "LAB", fmt.Sprintf("user%02d", i))
	}
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc, payloads...)

	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	for _, name := range []string{"qliksense_users", "qliksense_users_server"} {
		m := lastMetric(&gathered, name)
		require.NotNil(t, m, name)
		list := m.Fields["users"].(string)
		// The limit is on the field as line protocol writes it: each name
		// is `\"LAB\\\\user00\",` there (issue 21).
		require.LessOrEqual(t, metrics.LineProtocolSize([]byte(list)), 100, name)
		var users []string
		require.NoError(t, json.Unmarshal([]byte(list), &users), "the cut list is valid JSON")
		require.Equal(t, `LAB\user00`, users[0], "names are cut from the end")
		require.Less(t, len(users), 20)
		require.Len(t, users, 100/len(`\"LAB\\\\user00\",`), "as many whole names as fit")
		require.Equal(t, true, m.Fields["users_truncated"], name)
		require.Equal(t, int64(20), m.Fields["active_users"], "%s: the count stays exact", name)
	}

	// A list that fits carries no users_truncated.
	list, truncated := metrics.UsersJSON([]string{`LAB\anna`, `LAB\"quoted"`}, 100)
	require.False(t, truncated)
	require.Equal(t, `["LAB\\anna","LAB\\\"quoted\""]`, list)
	list, truncated = metrics.UsersJSON([]string{`LAB\anna`}, 2)
	require.True(t, truncated)
	require.Equal(t, `[]`, list)
}

// Users and servers beyond max_users and max_servers are refused and
// counted; those already tracked keep working.
func TestMaxUsersAndMaxServers(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.MaxUsers, plugin.MaxServers = 3, 2
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc,
		startPayload("SENSE1", "LAB", "anna"),
		startPayload("SENSE1", "LAB", "bob"),
		startPayload("SENSE2", "LAB", "carl"),
		startPayload("SENSE2", "LAB", "dora"), // a fourth user: refused
		startPayload("SENSE3", "LAB", "anna"), // a third server: refused
		startPayload("SENSE2", "LAB", "anna"), // a known user on a known server
		startPayload("SENSE1", "LAB", "anna"), // a second session of a known user
		`/qseow-proxy-session/;SENSE1;Stop session;LAB;bob;AppAccess;/hub/;m`,
		startPayload("SENSE1", "LAB", "erik"), // room again after bob left
	)

	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	site := lastMetric(&gathered, "qliksense_users")
	require.Equal(t, `["LAB\\anna","LAB\\carl","LAB\\erik"]`, site.Fields["users"])
	require.Equal(t, int64(5), site.Fields["active_sessions"])
	internal := lastMetric(&gathered, "qliksense_sessions_internal")
	require.Equal(t, int64(1), internal.Fields["events_refused_max_users"])
	require.Equal(t, int64(1), internal.Fields["events_refused_max_servers"])
	require.Equal(t, int64(9), internal.Fields["events_accepted"])

	for _, bad := range []func(q *QlikSenseSessions){
		func(q *QlikSenseSessions) { q.MaxUsers = 0 },
		func(q *QlikSenseSessions) { q.MaxServers = -1 },
		func(q *QlikSenseSessions) { q.UsersMaxBytes = config.Size(2 << 20) },
		func(q *QlikSenseSessions) { q.ReorderWindow = -1 },
	} {
		q := newTestPlugin(t)
		bad(q)
		err := q.Init()
		require.Error(t, err)
		require.Regexp(t, `^(max_users|max_servers|users_max_bytes|reorder_window) `, err.Error(), "the error names the option")
	}
}

// What a sender can make the state hold is bounded by default.
func TestDefaultLimits(t *testing.T) {
	plugin := newTestPlugin(t)
	require.NoError(t, plugin.Init())
	require.Equal(t, 100_000, plugin.MaxUsers)
	require.Equal(t, 100, plugin.MaxServers)
	require.Less(t, int(plugin.UsersMaxBytes), 1<<20)
	require.Equal(t, state.DefaultReorderWindow, plugin.stateConfig().ReorderWindow)
}

// Listening on every interface with no allowed_sources is allowed, with
// one warning that says how to restrict it.
func TestOpenToAllWarnsOnce(t *testing.T) {
	for _, tt := range []struct {
		address string
		allowed []string
		warns   bool
	}{
		{"udp://:0", nil, true},
		{"udp4://0.0.0.0:0", nil, true},
		{"udp://:0", []string{"10.0.0.11"}, false},
		{"udp4://127.0.0.1:0", nil, false},
	} {
		t.Run(fmt.Sprint(tt.address, tt.allowed), func(t *testing.T) {
			plugin := newTestPlugin(t)
			logger := &testutil.CaptureLogger{}
			plugin.Log = logger
			plugin.ServiceAddress, plugin.AllowedSources = tt.address, tt.allowed
			var acc testutil.Accumulator
			startPlugin(t, plugin, &acc)
			open := linesWith(logged(logger, testutil.LevelWarn), "allowed_sources")
			if !tt.warns {
				require.Empty(t, open)
				return
			}
			require.Len(t, open, 1)
			require.Contains(t, open[0], `allowed_sources = ["10.0.0.11"`)
		})
	}
}

package qliksense_sessions

import (
	"slices"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// TestUsageOptions: session_limit (5) and silence_alert (15m) by default,
// 0 turns each off, a negative value stops Init with an error naming the
// key, and both reach the pipeline.
func TestUsageOptions(t *testing.T) {
	plugin := newTestPlugin(t)
	require.NoError(t, plugin.Init())
	require.Equal(t, 5, plugin.pipelineConfig.State.SessionLimit)
	require.Equal(t, 15*time.Minute, plugin.pipelineConfig.SilenceAlert)

	plugin = newTestPlugin(t)
	plugin.SessionLimit, plugin.SilenceAlert = 0, 0
	require.NoError(t, plugin.Init())
	require.Zero(t, plugin.pipelineConfig.State.SessionLimit)
	require.Zero(t, plugin.pipelineConfig.SilenceAlert)

	for _, bad := range []func(q *QlikSenseSessions){
		func(q *QlikSenseSessions) { q.SessionLimit = -1 },
		func(q *QlikSenseSessions) { q.SilenceAlert = config.Duration(-time.Minute) },
	} {
		q := newTestPlugin(t)
		bad(q)
		err := q.Init()
		require.Error(t, err)
		require.Regexp(t, `^(session_limit -1|silence_alert -1m0s) is negative`, err.Error(), "the error names the option")
	}
}

// TestUsersAtSessionLimit: over UDP, a user's fifth session puts them at
// the default limit, on the site and on their server.
func TestUsersAtSessionLimit(t *testing.T) {
	plugin := newTestPlugin(t)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)
	for range 5 {
		send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	}
	send(t, conn, `/qseow-proxy-session/;SENSE2;Start session;LAB;bob;AppAccess;/hub/;m`)
	waitForDatagrams(t, plugin, 6)
	require.NoError(t, plugin.Gather(&acc))
	site := lastMetric(&acc, "qliksense_users")
	require.Equal(t, int64(5), site.Fields["max_sessions_per_user"])
	require.Equal(t, int64(1), site.Fields["users_at_session_limit"])
	require.Equal(t, `["LAB\\anna"]`, site.Fields["users_at_limit"])
	require.Equal(t, int64(0), site.Fields["silent_servers"])
	for _, m := range acc.GetTelegrafMetrics() {
		if trigger, _ := m.GetTag("trigger"); m.Name() != "qliksense_users_server" || trigger != "interval" {
			continue // change summaries may have come before the last datagram
		}
		server, _ := m.GetTag("server")
		at, _ := m.GetField("users_at_session_limit")
		require.Equal(t, map[string]int64{"SENSE1": 1, "SENSE2": 0}[server], at, server)
		require.Contains(t, m.Fields(), "seconds_since_last_event")
	}
}

// usageFields are the site's and servers' usage fields: this file's tests,
// TestUDPEndToEnd's and the pipeline's check them; the tests of other
// things compare summaries without them.
var usageFields = []string{"max_sessions_per_user", "users_at_session_limit", "users_at_limit", "users_at_limit_truncated",
	"seconds_since_last_event", "silent_servers"}

// withoutUsage removes the usage fields from m.
func withoutUsage(m telegraf.Metric) telegraf.Metric {
	for _, f := range usageFields {
		m.RemoveField(f)
	}
	return m
}

func isUsageField(key string) bool { return slices.Contains(usageFields, key) }

// zeroSecondsSinceLastEvent sets seconds_since_last_event to 0 after
// checking it is no more than a test's pace: the pipeline's tests pin it
// with a controlled clock.
func zeroSecondsSinceLastEvent(t *testing.T, m telegraf.Metric) {
	t.Helper()
	if d, ok := m.GetField("seconds_since_last_event"); ok {
		require.GreaterOrEqual(t, d, int64(0))
		require.Less(t, d, int64(60))
		m.AddField("seconds_since_last_event", int64(0))
	}
}

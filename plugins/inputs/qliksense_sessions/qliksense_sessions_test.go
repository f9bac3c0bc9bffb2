package qliksense_sessions

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// newTestPlugin is the plugin with its registered defaults, on a free
// loopback port, without the usage periods, whose points carry the wall
// clock's hours (periods_test.go tests them).
func newTestPlugin(t *testing.T) *QlikSenseSessions {
	t.Helper()
	plugin := inputs.Inputs["qliksense_sessions"]().(*QlikSenseSessions)
	plugin.ServiceAddress = "udp://127.0.0.1:0"
	plugin.Periods = false
	plugin.Log = testutil.Logger{}
	return plugin
}

// startPlugin inits and starts the plugin on a free loopback port and
// returns a connected UDP socket to send to it.
func startPlugin(t *testing.T, plugin *QlikSenseSessions, acc *testutil.Accumulator) net.Conn {
	t.Helper()
	require.NoError(t, plugin.Init())
	require.NoError(t, plugin.Start(acc))
	t.Cleanup(plugin.Stop)
	conn, err := net.Dial("udp", plugin.listener.LocalAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func send(t *testing.T, conn net.Conn, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		_, err := conn.Write([]byte(p))
		require.NoError(t, err)
	}
}

// startAndSend starts the plugin, sends it the payloads and waits until it
// has received them.
func startAndSend(t *testing.T, plugin *QlikSenseSessions, acc *testutil.Accumulator, payloads ...string) net.Conn {
	t.Helper()
	conn := startPlugin(t, plugin, acc)
	send(t, conn, payloads...)
	waitForDatagrams(t, plugin, uint64(len(payloads)))
	return conn
}

// startPayload is a Start session datagram as Qlik Sense sends it.
func startPayload(server, dir, user string) string {
	return fmt.Sprintf(`/qseow-proxy-session/;%s;Start session;%s;%s;AppAccess;/hub/;Start session for user '%s\%s'`, server, dir, user, dir, user)
}

// waitForDatagrams waits until the plugin has taken in n datagrams.
func waitForDatagrams(t *testing.T, plugin *QlikSenseSessions, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		return plugin.udp.Stats().Received >= n
	}, 5*time.Second, time.Millisecond, "the plugin did not receive %d datagrams", n)
}

// waitForSessions waits until the state holds n sessions. (waitForDatagrams
// returns once a datagram is received, which may be before the state has
// applied it.)
func waitForSessions(t *testing.T, plugin *QlikSenseSessions, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return plugin.pipeline.ActiveSessions() == n
	}, 5*time.Second, time.Millisecond, "the state did not reach %d sessions", n)
}

// gatherSummaries returns the summaries of a gather: qliksense_users and
// the per-server and per-virtual-proxy metrics after it.
func gatherSummaries(t *testing.T, plugin *QlikSenseSessions) []telegraf.Metric {
	t.Helper()
	var acc testutil.Accumulator
	require.NoError(t, plugin.Gather(&acc))
	var out []telegraf.Metric
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != "qliksense_sessions_internal" {
			out = append(out, withoutUsage(m)) // usage_test.go's
		}
	}
	return out
}

func TestSampleConfigIsTheRootSampleConfig(t *testing.T) {
	root, err := os.ReadFile("../../../sample.conf")
	require.NoError(t, err)
	require.Equal(t, sampleConfig, string(root), "sample.conf at the repository root must equal the plugin's sample.conf")
}

func TestSampleConfigLoads(t *testing.T) {
	cfg := config.NewConfig()
	require.NoError(t, cfg.LoadConfigData([]byte(sampleConfig), config.EmptySourcePath))
	require.Len(t, cfg.Inputs, 1)
	plugin := cfg.Inputs[0].Input.(*QlikSenseSessions)
	require.Equal(t, "udp://:9997", plugin.ServiceAddress)
	require.True(t, plugin.EmitEvents)
	require.Equal(t, config.Duration(time.Second), plugin.SummaryInterval)
}

func TestInitRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*QlikSenseSessions)
		errMsg string
	}{
		{"empty address", func(q *QlikSenseSessions) { q.ServiceAddress = "" }, "service_address is empty"},
		{"no protocol", func(q *QlikSenseSessions) { q.ServiceAddress = ":9997" }, "has no protocol"},
		{"tcp", func(q *QlikSenseSessions) { q.ServiceAddress = "tcp://:9997" }, `protocol "tcp" is not supported`},
		{"no port", func(q *QlikSenseSessions) { q.ServiceAddress = "udp://localhost" }, "missing port"},
		{"bad port", func(q *QlikSenseSessions) { q.ServiceAddress = "udp://:99999" }, "bad port"},
		{"bad source", func(q *QlikSenseSessions) { q.AllowedSources = []string{"sense1"} }, `allowed_sources: "sense1" is not an IP address`},
		{"bad cidr", func(q *QlikSenseSessions) { q.AllowedSources = []string{"10.0.0.0/99"} }, `allowed_sources: "10.0.0.0/99"`},
		{"negative buffer", func(q *QlikSenseSessions) { q.ReadBufferSize = -1 }, "read_buffer_size -1 is negative"},
		{"zero datagram size", func(q *QlikSenseSessions) { q.MaxDatagramSize = 0 }, "max_datagram_size 0 must be positive"},
		{"negative interval", func(q *QlikSenseSessions) { q.SummaryInterval = config.Duration(-time.Second) }, "summary_interval -1s is negative"},
		{"bad glob", func(q *QlikSenseSessions) { q.ExcludeUsers = []string{`INTERNAL\[sa_*`} }, `exclude_users: pattern "INTERNAL\\[sa_*"`},
		{"empty glob", func(q *QlikSenseSessions) { q.ExcludeUsers = []string{" "} }, "exclude_users: empty pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin := newTestPlugin(t)
			tt.modify(plugin)
			err := plugin.Init()
			require.ErrorContains(t, err, tt.errMsg)
		})
	}
}

func TestInitAcceptsAddresses(t *testing.T) {
	for _, address := range []string{"udp://:9997", "udp4://0.0.0.0:9997", "udp6://[::1]:9997", "udp://127.0.0.1:0"} {
		plugin := newTestPlugin(t)
		plugin.ServiceAddress = address
		require.NoError(t, plugin.Init(), address)
	}
}

// TestUDPEndToEnd runs datagrams through a real loopback socket and checks
// the events, the coalesced change summary and the gathered metrics.
func TestUDPEndToEnd(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.SummaryInterval = config.Duration(time.Hour) // the first change summary goes out at once, later ones never
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc,
		startPayload("SENSE1", "LAB", "anna"),
		`/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/app/0f9e8d7c-6b5a-4321-9876-fedcba987654;connection Opened for session 'x'`,
		`not a payload`,
		startPayload("SENSE2", "CORP", "bob"),
	)
	acc.Wait(5) // 3 events + the first change summary (site and at least one server)

	require.NoError(t, plugin.Gather(&acc))
	ts := time.Unix(0, 0)
	expected := []telegraf.Metric{
		metric.New("qliksense_session_event",
			map[string]string{"server": "SENSE1", "event": "session_start", "user_directory": "LAB"},
			map[string]interface{}{"user": `LAB\anna`, "user_id": "anna", "origin": "AppAccess", "context": "/hub/", "active_users": int64(1)}, ts),
		metric.New("qliksense_users", map[string]string{"trigger": "change"},
			map[string]interface{}{"active_users": int64(1), "active_sessions": int64(1), "users": `["LAB\\anna"]`}, ts),
		metric.New("qliksense_users_server", map[string]string{"server": "SENSE1", "trigger": "change"},
			map[string]interface{}{"active_users": int64(1), "active_sessions": int64(1), "users": `["LAB\\anna"]`}, ts),
		metric.New("qliksense_session_event",
			map[string]string{"server": "SENSE1", "event": "connection_open", "user_directory": "LAB"},
			map[string]interface{}{"user": `LAB\anna`, "user_id": "anna", "origin": "AppAccess",
				"context": "/app/0f9e8d7c-6b5a-4321-9876-fedcba987654", "app_id": "0f9e8d7c-6b5a-4321-9876-fedcba987654", "active_users": int64(1)}, ts),
		metric.New("qliksense_session_event",
			map[string]string{"server": "SENSE2", "event": "session_start", "user_directory": "CORP"},
			map[string]interface{}{"user": `CORP\bob`, "user_id": "bob", "origin": "AppAccess", "context": "/hub/", "active_users": int64(2)}, ts),
		metric.New("qliksense_users", map[string]string{"trigger": "interval"},
			map[string]interface{}{"active_users": int64(2), "active_sessions": int64(2), "users": `["CORP\\bob","LAB\\anna"]`,
				"max_sessions_per_user": int64(1), "users_at_session_limit": int64(0), "users_at_limit": `[]`, "silent_servers": int64(0)}, ts),
		metric.New("qliksense_users_server", map[string]string{"server": "SENSE1", "trigger": "interval"},
			map[string]interface{}{"active_users": int64(1), "active_sessions": int64(1), "users": `["LAB\\anna"]`,
				"max_sessions_per_user": int64(1), "users_at_session_limit": int64(0), "users_at_limit": `[]`, "seconds_since_last_event": int64(0)}, ts),
		metric.New("qliksense_users_server", map[string]string{"server": "SENSE2", "trigger": "interval"},
			map[string]interface{}{"active_users": int64(1), "active_sessions": int64(1), "users": `["CORP\\bob"]`,
				"max_sessions_per_user": int64(1), "users_at_session_limit": int64(0), "users_at_limit": `[]`, "seconds_since_last_event": int64(0)}, ts),
		metric.New("qliksense_users_app", map[string]string{"app_id": "0f9e8d7c-6b5a-4321-9876-fedcba987654", "trigger": "interval"},
			map[string]interface{}{"active_users": int64(1), "active_connections": int64(1), "users": `["LAB\\anna"]`}, ts),
		metric.New("qliksense_sessions_internal", nil, map[string]interface{}{
			"datagrams_received": int64(4), "events_accepted": int64(3), "events_ignored": int64(0),
			"events_excluded": int64(0), "malformed": int64(1), "rejected_source": int64(0), "oversize": int64(0),
			"tracked_servers": int64(2), "tracked_users": int64(2), "tracked_user_server_pairs": int64(2),
			"tracked_sessions": int64(2), "stops_without_start": int64(0), "sessions_inferred": int64(0),
			"sessions_expired": int64(0), "reconcile_sessions_added": int64(0), "reconcile_sessions_removed": int64(0),
			"proxy_polls": int64(0), "proxy_poll_errors": int64(0), "state_save_errors": int64(0),
			"decoded_ansi": int64(0), "starts_matched": int64(0), "starts_cancelled": int64(0),
			"events_refused_max_users": int64(0), "events_refused_max_servers": int64(0),
			"events_refused_max_user_sessions": int64(0), "events_refused_session_id_length": int64(0),
			"tracked_apps": int64(1), "connections_refused_max_apps": int64(0),
		}, ts),
	}
	if runtime.GOOS == "linux" {
		expected[len(expected)-1].AddField("datagrams_dropped", int64(0))
	}
	// The change summary may be taken before or after the later events, so
	// compare it apart from the events.
	actual := acc.GetTelegrafMetrics()
	var events, rest []telegraf.Metric
	for _, m := range actual {
		if m.Name() == "qliksense_session_event" {
			events = append(events, m)
		} else {
			zeroSecondsSinceLastEvent(t, m)
			rest = append(rest, m)
		}
	}
	testutil.RequireMetricsEqual(t, []telegraf.Metric{expected[0], expected[3], expected[4]}, events, testutil.IgnoreTime())
	require.Equal(t, "qliksense_users", rest[0].Name(), "a change summary went out before the gather")
	require.Greater(t, len(rest), 4, "a change summary went out before the gather")
	testutil.RequireMetricsEqual(t, expected[5:], rest[len(rest)-5:], testutil.IgnoreTime())
}

// A burst of changes must become a handful of summaries, not one each.
func TestSummariesAreCoalesced(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.SummaryInterval = config.Duration(50 * time.Millisecond)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)

	const users = 2000
	for i := 0; i < users; i++ {
		send(t, conn, fmt.Sprintf("/qseow-proxy-session/;SENSE1;Start session;LAB;user%04d;AppAccess;/hub/;m", i))
	}
	waitForDatagrams(t, plugin, users)
	require.Eventually(t, func() bool {
		m := lastMetric(&acc, "qliksense_users")
		return m != nil && m.Fields["active_users"] == int64(users)
	}, 5*time.Second, time.Millisecond)

	summaries := 0
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == "qliksense_users" {
			summaries++
		}
	}
	require.Less(t, summaries, users/10, "%d changes produced %d summaries", users, summaries)
}

func TestAllowedSources(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.AllowedSources = []string{"192.0.2.0/24"}
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	require.EqualValues(t, 1, plugin.udp.Stats().Rejected)
	require.EqualValues(t, 0, plugin.pipeline.Counters().EventsAccepted)
	require.Zero(t, acc.NMetrics())
}

func TestOversizeDatagram(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.MaxDatagramSize = 100
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;`+strings.Repeat("x", 100))
	require.EqualValues(t, 1, plugin.udp.Stats().Oversize)
	require.Zero(t, acc.NMetrics())
}

func TestStopWithoutStartIsHarmless(t *testing.T) {
	plugin := newTestPlugin(t)
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc, `/qseow-proxy-session/;SENSE1;Stop session;LAB;anna;AppAccess;/hub/;m`)
	acc.Wait(1)
	require.NoError(t, plugin.Gather(&acc))
	site := lastMetric(&acc, "qliksense_users")
	require.Equal(t, int64(0), site.Fields["active_users"])
	require.Equal(t, "[]", site.Fields["users"])
	internal := lastMetric(&acc, "qliksense_sessions_internal")
	require.Equal(t, int64(1), internal.Fields["stops_without_start"])
}

// lastMetric is the last metric of the name in acc, or nil.
func lastMetric(acc *testutil.Accumulator, name string) *testutil.Metric {
	acc.Lock()
	defer acc.Unlock()
	for i := len(acc.Metrics) - 1; i >= 0; i-- {
		if acc.Metrics[i].Measurement == name {
			return acc.Metrics[i]
		}
	}
	return nil
}

// logged returns the texts log captured at the level.
func logged(log *testutil.CaptureLogger, level byte) []string {
	var texts []string
	for _, m := range log.Messages() {
		if m.Level == level {
			texts = append(texts, m.Text)
		}
	}
	return texts
}

// linesWith returns the lines (log lines) that contain s.
func linesWith(lines []string, s string) []string {
	var with []string
	for _, line := range lines {
		if strings.Contains(line, s) {
			with = append(with, line)
		}
	}
	return with
}

// The plugin README embeds sample.conf the way Telegraf's generator does.
func TestReadmeEmbedsSampleConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "```toml @sample.conf\n"+sampleConfig+"```")
}

package qliksense_sessions

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

func newFakeProxy(t *testing.T) *qpstest.Server {
	t.Helper()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("sources", "qps", "testdata", name))
		require.NoError(t, err)
		return string(data)
	}
	return qpstest.NewServer(t, map[string]string{"": read("sessions_default.json"), "hdr": read("sessions_hdr.json")})
}

func proxyFor(server *qpstest.Server) *Proxy {
	p := &Proxy{URL: server.URL, Server: "SENSE1", VirtualProxies: []string{"", "hdr"}, Interval: config.Duration(time.Hour)}
	p.TLSCA, p.TLSCert, p.TLSKey = server.CAFile, server.ClientCertFile, server.ClientKeyFile
	return p
}

// summaries returns the summaries of the last gather: qliksense_users and
// the per-server and per-virtual-proxy metrics after it.
func gatherSummaries(t *testing.T, plugin *QlikSenseSessions) []telegraf.Metric {
	t.Helper()
	var acc testutil.Accumulator
	require.NoError(t, plugin.Gather(&acc))
	var out []telegraf.Metric
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != "qliksense_sessions_internal" {
			out = append(out, m)
		}
	}
	return out
}

// summary is a summary metric as a gather emits it.
func summary(name string, tags map[string]string, users, sessions int64, names string) telegraf.Metric {
	tags = maps.Clone(tags)
	if tags == nil {
		tags = make(map[string]string)
	}
	tags["trigger"] = "interval"
	return metric.New(name, tags, map[string]interface{}{"active_users": users, "active_sessions": sessions, "users": names}, time.Unix(0, 0))
}

func TestProxySeedsTheStateAtStart(t *testing.T) {
	server := newFakeProxy(t)
	plugin := newTestPlugin(t)
	plugin.Proxies = []*Proxy{proxyFor(server)}
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)

	require.Eventually(t, func() bool { return plugin.stats.proxyPolls.Load() == 1 }, 5*time.Second, time.Millisecond)
	expected := []telegraf.Metric{
		summary("qliksense_users", nil, 3, 4, `["CORP\\bob","CORP\\carl","LAB\\anna"]`),
		summary("qliksense_users_server", map[string]string{"server": "SENSE1"}, 3, 4, `["CORP\\bob","CORP\\carl","LAB\\anna"]`),
		summary("qliksense_users_virtual_proxy", map[string]string{"server": "SENSE1", "virtual_proxy": "/"}, 2, 3, `["CORP\\bob","LAB\\anna"]`),
		summary("qliksense_users_virtual_proxy", map[string]string{"server": "SENSE1", "virtual_proxy": "hdr"}, 1, 1, `["CORP\\carl"]`),
	}
	testutil.RequireMetricsEqual(t, expected, gatherSummaries(t, plugin), testutil.IgnoreTime())

	var internal testutil.Accumulator
	plugin.emitInternal(&internal)
	fields := internal.GetTelegrafMetrics()[0].Fields()
	require.Equal(t, int64(4), fields["reconcile_sessions_added"])
	require.Equal(t, int64(0), fields["reconcile_sessions_removed"])

	// UDP events go on from there: anna closes one of her two sessions.
	send(t, conn, `/qseow-proxy-session/;sense1;Stop session;LAB;anna;AppAccess;/hub/;m`)
	waitForDatagrams(t, plugin, 1)
	site := gatherSummaries(t, plugin)[0]
	require.Equal(t, int64(3), site.Fields()["active_sessions"])
	require.Equal(t, int64(3), site.Fields()["active_users"])

	// The proxy's answer changes (bob and carl left): the next poll corrects
	// the state the events could not.
	server.SetAnswer("", `[{"UserDirectory":"LAB","UserId":"anna","SessionId":"1"}]`)
	server.SetAnswer("hdr", `[]`)
	plugin.reconcile(plugin.Proxies[0])
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		summary("qliksense_users", nil, 1, 1, `["LAB\\anna"]`),
		summary("qliksense_users_server", map[string]string{"server": "SENSE1"}, 1, 1, `["LAB\\anna"]`),
		summary("qliksense_users_virtual_proxy", map[string]string{"server": "SENSE1", "virtual_proxy": "/"}, 1, 1, `["LAB\\anna"]`),
		summary("qliksense_users_virtual_proxy", map[string]string{"server": "SENSE1", "virtual_proxy": "hdr"}, 0, 0, `[]`),
	}, gatherSummaries(t, plugin), testutil.IgnoreTime())

	for _, r := range server.Requests() {
		require.Equal(t, r.XrfKeyQuery, r.XrfKeyHeader)
	}
}

func TestProxyFailureLeavesTheStateAlone(t *testing.T) {
	for name, failure := range map[string]qpstest.Failure{"status": qpstest.Status500, "json": qpstest.BadJSON, "timeout": qpstest.Hang} {
		t.Run(name, func(t *testing.T) {
			server := newFakeProxy(t)
			server.SetFailure(failure)
			plugin := newTestPlugin(t)
			p := proxyFor(server)
			p.Timeout = config.Duration(200 * time.Millisecond)
			plugin.Proxies = []*Proxy{p}
			var acc testutil.Accumulator
			conn := startPlugin(t, plugin, &acc)
			require.Eventually(t, func() bool { return plugin.stats.proxyPollErrors.Load() == 1 }, 5*time.Second, time.Millisecond)

			send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;maria;AppAccess;/hub/;m`)
			waitForDatagrams(t, plugin, 1)
			plugin.reconcile(p) // fails again
			require.EqualValues(t, 2, plugin.stats.proxyPollErrors.Load())
			require.Zero(t, plugin.stats.proxyPolls.Load())
			testutil.RequireMetricsEqual(t, []telegraf.Metric{
				summary("qliksense_users", nil, 1, 1, `["LAB\\maria"]`),
				summary("qliksense_users_server", map[string]string{"server": "SENSE1"}, 1, 1, `["LAB\\maria"]`),
			}, gatherSummaries(t, plugin), testutil.IgnoreTime())
		})
	}
}

func TestInitRejectsBadProxies(t *testing.T) {
	tests := []struct {
		name    string
		proxies []*Proxy
		errMsg  string
	}{
		{"no url", []*Proxy{{}}, "proxy #1: url is empty"},
		{"bad url", []*Proxy{{URL: "sense1:4243"}}, `proxy #1: url "sense1:4243" is not https://`},
		{"negative interval", []*Proxy{{URL: "https://sense1:4243", Interval: -1}}, "must not be negative"},
		{"missing cert", []*Proxy{missingCertProxy()}, "TLS settings"},
		{"same server twice", []*Proxy{{URL: "https://sense1:4243"}, {URL: "https://sense1.example.com:4243"}}, `both have server "SENSE1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin := newTestPlugin(t)
			plugin.Proxies = tt.proxies
			require.ErrorContains(t, plugin.Init(), tt.errMsg)
		})
	}
}

func TestProxyDefaults(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.Proxies = []*Proxy{{URL: "https://sense2.example.com:4243"}}
	require.NoError(t, plugin.Init())
	p := plugin.Proxies[0]
	require.Equal(t, "SENSE2", p.Server)
	require.Equal(t, []string{""}, p.VirtualProxies)
	require.Equal(t, config.Duration(time.Minute), p.Interval)
	require.Equal(t, config.Duration(10*time.Second), p.Timeout)
}

func TestStateFileAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first := newTestPlugin(t)
	first.StateFile = path
	var acc testutil.Accumulator
	conn := startPlugin(t, first, &acc)
	send(t, conn,
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`,
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`,
		`/qseow-proxy-session/;SENSE2;Start session;CORP;bob;AppAccess;/hub/;m`,
	)
	waitForDatagrams(t, first, 3)
	before := gatherSummaries(t, first)
	first.Stop() // saves
	_, err := os.Stat(path)
	require.NoError(t, err)

	second := newTestPlugin(t)
	second.StateFile = path
	startPlugin(t, second, &acc)
	testutil.RequireMetricsEqual(t, before, gatherSummaries(t, second), testutil.IgnoreTime())
}

func TestStateFileSavedPeriodically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	plugin := newTestPlugin(t)
	plugin.StateFile = path
	plugin.StateSaveInterval = config.Duration(20 * time.Millisecond)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)
	send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(path)
		return err == nil && len(data) > 0 && strings.Contains(string(data), `"user_id":"anna"`)
	}, 5*time.Second, 5*time.Millisecond, "state file was not written while running")
}

func TestCorruptStateFileStartsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"sessions":[{"ser`), 0o600))
	plugin := newTestPlugin(t)
	plugin.StateFile = path
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	site := gatherSummaries(t, plugin)[0]
	require.Equal(t, int64(0), site.Fields()["active_users"])
}

func TestStateFileDropsOldSessionsOnLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	now := time.Now().UTC()
	data := `{"version":1,"saved_at":"` + now.Format(time.RFC3339) + `","sessions":[
	 {"server":"SENSE1","directory":"LAB","user_id":"fresh","sessions":1,"first_seen":"` + now.Format(time.RFC3339) + `","last_seen":"` + now.Format(time.RFC3339) + `"},
	 {"server":"SENSE1","directory":"LAB","user_id":"stale","sessions":1,"first_seen":"2020-01-01T00:00:00Z","last_seen":"2020-01-01T00:00:00Z"}]}`
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	plugin := newTestPlugin(t)
	plugin.StateFile = path
	plugin.SessionMaxAge = config.Duration(time.Hour)
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	require.Equal(t, `["LAB\\fresh"]`, gatherSummaries(t, plugin)[0].Fields()["users"])
}

func TestSessionMaxAgeExpiresIdleSessions(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.SessionMaxAge = config.Duration(300 * time.Millisecond)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)
	send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	waitForDatagrams(t, plugin, 1)
	require.Eventually(t, func() bool {
		plugin.mu.Lock()
		defer plugin.mu.Unlock()
		return plugin.state.ActiveUsers() == 0 && plugin.state.Counters().SessionsExpired == 1
	}, 10*time.Second, 10*time.Millisecond)
}

func missingCertProxy() *Proxy {
	p := &Proxy{URL: "https://sense1:4243"}
	p.TLSCert, p.TLSKey = "/nonexistent/client.pem", "/nonexistent/client_key.pem"
	return p
}

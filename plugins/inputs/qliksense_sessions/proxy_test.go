package qliksense_sessions

import (
	"maps"
	"os"
	"path/filepath"
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

// proxyCounter is one of the proxies' poll counters of
// qliksense_sessions_internal.
func proxyCounter(plugin *QlikSenseSessions, field string) int64 {
	fields := map[string]interface{}{}
	plugin.proxyPoll.InternalFields(fields)
	return fields[field].(int64)
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

	require.Eventually(t, func() bool { return proxyCounter(plugin, "proxy_polls") == 1 }, 5*time.Second, time.Millisecond)
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
	waitForSessions(t, plugin, 3)
	site := gatherSummaries(t, plugin)[0]
	require.Equal(t, int64(3), site.Fields()["active_sessions"])
	require.Equal(t, int64(3), site.Fields()["active_users"])

	// The proxy's answer changes (bob and carl left): the next poll corrects
	// the state the events could not.
	server.SetAnswer("", `[{"UserDirectory":"LAB","UserId":"anna","SessionId":"1"}]`)
	server.SetAnswer("hdr", `[]`)
	plugin.proxyPoll.Poll(0)
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
	for name, failure := range map[string]qpstest.Failure{
		"status": qpstest.Status500, "json": qpstest.BadJSON, "timeout": qpstest.Hang,
		"redirect to http": qpstest.RedirectToHTTP, "redirect to another host": qpstest.RedirectToOtherHost,
	} {
		t.Run(name, func(t *testing.T) {
			server := newFakeProxy(t)
			server.SetFailure(failure)
			plugin := newTestPlugin(t)
			p := proxyFor(server)
			p.Timeout = config.Duration(200 * time.Millisecond)
			plugin.Proxies = []*Proxy{p}
			var acc testutil.Accumulator
			conn := startPlugin(t, plugin, &acc)
			require.Eventually(t, func() bool { return proxyCounter(plugin, "proxy_poll_errors") == 1 }, 5*time.Second, time.Millisecond)

			send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;maria;AppAccess;/hub/;m`)
			waitForSessions(t, plugin, 1)
			plugin.proxyPoll.Poll(0) // fails again
			require.EqualValues(t, 2, proxyCounter(plugin, "proxy_poll_errors"))
			require.Zero(t, proxyCounter(plugin, "proxy_polls"))
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
		{"plain http", []*Proxy{{URL: "http://sense1:4243"}}, `proxy #1: url "http://sense1:4243" is plain http`},
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

func missingCertProxy() *Proxy {
	p := &Proxy{URL: "https://sense1:4243"}
	p.TLSCert, p.TLSKey = "/nonexistent/client.pem", "/nonexistent/client_key.pem"
	return p
}

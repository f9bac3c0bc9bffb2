package qliksense_sessions

import (
	"net"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

// Issue 21: what a hostile sender or a slip in the config can make the
// plugin do.

// Credentials in an API url would be printed with every error line that
// names the url: Init refuses them, naming the key, without repeating
// them.
func TestInitRefusesCredentialsInURLs(t *testing.T) {
	for _, url := range []string{
		"https://admin:s3cret@sense1.example.com:4243", "https://admin@sense1.example.com:4243", "https://:s3cret@sense1.example.com:4243",
	} {
		plugin := newTestPlugin(t)
		plugin.Proxies = []*Proxy{{URL: url}}
		err := plugin.Init()
		require.ErrorContains(t, err, "proxy #1: url ", url)
		require.ErrorContains(t, err, "https://sense1.example.com:4243", url)
		require.ErrorContains(t, err, "client certificate", url)
		require.NotContains(t, err.Error(), "s3cret", url)
		require.NotContains(t, err.Error(), "admin", url)

		plugin = newTestPlugin(t)
		plugin.Repository = &Repository{URL: url}
		err = plugin.Init()
		require.ErrorContains(t, err, "repository: url ", url)
		require.NotContains(t, err.Error(), "s3cret", url)
		require.NotContains(t, err.Error(), "admin", url)
	}
}

// The package's tests run the timers faster than an admin may set them
// (a state save every 10 ms, a session_max_age of 300 ms, a repository
// asked every 10 ms); TestDurationRanges checks the admin's minimums.
func init() {
	minimums = durationMinimums{
		summaryInterval: time.Millisecond, stateSaveInterval: time.Millisecond, sessionMaxAge: time.Millisecond,
		apiInterval: time.Millisecond, apiTimeout: time.Millisecond,
	}
}

// Every duration key has a range, and an error out of it names the key
// (issue 21: "1ns" burnt CPU, "100000h" was taken).
func TestDurationRanges(t *testing.T) {
	testMinimums := minimums
	minimums = adminMinimums
	t.Cleanup(func() { minimums = testMinimums })

	tests := []struct {
		name   string
		modify func(q *QlikSenseSessions)
		errMsg string // "" for none
	}{
		{"state save 1ns", func(q *QlikSenseSessions) { q.StateSaveInterval = config.Duration(1) },
			`state_save_interval 1ns is out of range: give a duration from "1s" to "24h"`},
		{"state save 1s", func(q *QlikSenseSessions) { q.StateSaveInterval = config.Duration(time.Second) }, ""},
		{"state save 100000h", func(q *QlikSenseSessions) { q.StateSaveInterval = config.Duration(100000 * time.Hour) },
			"state_save_interval 100000h0m0s is out of range"},
		{"summary 1ns", func(q *QlikSenseSessions) { q.SummaryInterval = config.Duration(1) },
			`summary_interval 1ns is out of range: give a duration from "100ms" to "1h", or "0s" for summaries on gathers only`},
		{"summary off", func(q *QlikSenseSessions) { q.SummaryInterval = 0 }, ""},
		{"session max age 1ns", func(q *QlikSenseSessions) { q.SessionMaxAge = config.Duration(1) },
			`session_max_age 1ns is out of range: give a duration from "1m" to "720h", or "0s" to never expire sessions`},
		{"session max age 8h", func(q *QlikSenseSessions) { q.SessionMaxAge = config.Duration(8 * time.Hour) }, ""},
		{"reorder window 100000h", func(q *QlikSenseSessions) { q.ReorderWindow = config.Duration(100000 * time.Hour) },
			`reorder_window 100000h0m0s is out of range: give a duration from "0s" to "1m"`},
		{"reorder window off", func(q *QlikSenseSessions) { q.ReorderWindow = 0 }, ""},
		{"proxy interval 1ns", func(q *QlikSenseSessions) {
			q.Proxies = []*Proxy{{URL: "https://sense1.example.com:4243", Interval: config.Duration(1)}}
		}, `proxy #1 (https://sense1.example.com:4243): interval 1ns is out of range: give a duration from "1s" to "24h"`},
		{"proxy timeout 1ns", func(q *QlikSenseSessions) {
			q.Proxies = []*Proxy{{URL: "https://sense1.example.com:4243", Timeout: config.Duration(1)}}
		}, `proxy #1 (https://sense1.example.com:4243): timeout 1ns is out of range: give a duration from "100ms" to "1h"`},
		{"repository interval 1ns", func(q *QlikSenseSessions) {
			q.Repository = &Repository{URL: "https://central.example.com:4242", Interval: config.Duration(1)}
		}, `repository (https://central.example.com:4242): interval 1ns is out of range: give a duration from "1s" to "24h"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin := newTestPlugin(t)
			tt.modify(plugin)
			err := plugin.Init()
			if tt.errMsg == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.errMsg)
		})
	}
}

// A failing proxy asked often logs one error line a minute, saying how
// many more there were, as the repository's failures do (issue 21: 8,504
// lines in 3 s).
func TestProxyErrorsAreRateLimited(t *testing.T) {
	server := newFakeProxy(t)
	server.SetFailure(qpstest.Status500)
	p := proxyFor(server)
	p.Interval = config.Duration(time.Millisecond)
	log := &testutil.CaptureLogger{}
	plugin := newTestPlugin(t)
	plugin.Log = log
	plugin.Proxies = []*Proxy{p}
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	require.Eventually(t, func() bool { return proxyCounter(plugin, "proxy_poll_errors") >= 20 }, 10*time.Second, time.Millisecond)
	errors := log.Errors()
	require.Len(t, errors, 1, "%d failures", proxyCounter(plugin, "proxy_poll_errors"))
	require.Contains(t, errors[0], "Proxy session API of SENSE1")
	require.Contains(t, errors[0], "HTTP status 500")
}

// Sizes the socket cannot take are refused at Init, naming the key (issue
// 21: 2 GiB wrapped, and the warning blamed rmem_max).
func TestSocketSizeRanges(t *testing.T) {
	for _, tt := range []struct {
		modify func(q *QlikSenseSessions)
		errMsg string
	}{
		{func(q *QlikSenseSessions) { q.ReadBufferSize = config.Size(2 << 30) }, `read_buffer_size 2147483648 is over "512MiB"`},
		{func(q *QlikSenseSessions) { q.ReadBufferSize = config.Size(512<<20 + 1) }, `read_buffer_size 536870913 is over "512MiB"`},
		{func(q *QlikSenseSessions) { q.ReadBufferSize = config.Size(512 << 20) }, ""},
		{func(q *QlikSenseSessions) { q.MaxDatagramSize = config.Size(65508) }, "max_datagram_size 65508 is over 65507 bytes"},
		{func(q *QlikSenseSessions) { q.MaxDatagramSize = config.Size(1 << 20) }, "max_datagram_size 1048576 is over 65507 bytes"},
		{func(q *QlikSenseSessions) { q.MaxDatagramSize = config.Size(65507) }, ""},
	} {
		plugin := newTestPlugin(t)
		tt.modify(plugin)
		err := plugin.Init()
		if tt.errMsg == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tt.errMsg)
	}
}

// The listen error asks whether another program uses the port only when
// one does (issue 21: it always asked).
func TestListenErrorHint(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()

	plugin := newTestPlugin(t)
	plugin.ServiceAddress = "udp://" + taken.LocalAddr().String()
	require.NoError(t, plugin.Init())
	err = plugin.Start(&testutil.Accumulator{})
	require.ErrorContains(t, err, "(is another program using the port?)")

	plugin = newTestPlugin(t)
	plugin.ServiceAddress = "udp://192.0.2.1:9997" // TEST-NET-1: no interface has it
	require.NoError(t, plugin.Init())
	err = plugin.Start(&testutil.Accumulator{})
	require.ErrorContains(t, err, `listening on service_address "udp://192.0.2.1:9997" failed`)
	require.NotContains(t, err.Error(), "another program")
}

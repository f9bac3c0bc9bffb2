package qliksense_sessions

import (
	"maps"
	"os"
	"path/filepath"
	"strconv"
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

// waitForSessions waits until the state holds n sessions. (waitForDatagrams
// returns once a datagram is received, which may be before the state has
// applied it.)
func waitForSessions(t *testing.T, plugin *QlikSenseSessions, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return plugin.pipeline.ActiveSessions() == n
	}, 5*time.Second, time.Millisecond, "the state did not reach %d sessions", n)
}

func TestProxySeedsTheStateAtStart(t *testing.T) {
	server := newFakeProxy(t)
	plugin := newTestPlugin(t)
	plugin.Proxies = []*Proxy{proxyFor(server)}
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)

	require.Eventually(t, func() bool { return plugin.proxyPolls.Load() == 1 }, 5*time.Second, time.Millisecond)
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
			require.Eventually(t, func() bool { return plugin.proxyPollErrors.Load() == 1 }, 5*time.Second, time.Millisecond)

			send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;maria;AppAccess;/hub/;m`)
			waitForSessions(t, plugin, 1)
			plugin.reconcile(p) // fails again
			require.EqualValues(t, 2, plugin.proxyPollErrors.Load())
			require.Zero(t, plugin.proxyPolls.Load())
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
	waitForSessions(t, first, 3)
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

func TestUnreadableStateFileIsKeptAside(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":     `{"version":1,"sessions":[{"ser`,
		"newer version": `{"version":2,"saved_at":"2027-01-01T00:00:00Z","servers":{}}`,
		"not ours":      `[{"server":"SENSE1"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			plugin := newTestPlugin(t)
			log := &testutil.CaptureLogger{}
			plugin.Log = log
			plugin.StateFile = path
			var acc testutil.Accumulator
			conn := startPlugin(t, plugin, &acc)
			site := gatherSummaries(t, plugin)[0]
			require.Equal(t, int64(0), site.Fields()["active_users"])

			// The file was moved aside before anything could replace it, and the
			// error says where it went.
			copies, err := filepath.Glob(path + ".unreadable-*")
			require.NoError(t, err)
			require.Len(t, copies, 1)
			require.Regexp(t, `\.unreadable-\d{8}T\d{6}Z$`, copies[0])
			kept, err := os.ReadFile(copies[0])
			require.NoError(t, err)
			require.Equal(t, content, string(kept))
			errs := log.Errors()
			require.Len(t, errs, 1)
			require.Contains(t, errs[0], strconv.Quote(copies[0]))
			require.Contains(t, errs[0], "starting with no sessions")

			// The plugin goes on and writes a new file; the copy stays.
			send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
			waitForDatagrams(t, plugin, 1)
			plugin.Stop()
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Contains(t, string(data), `"user_id":"anna"`)
			kept, err = os.ReadFile(copies[0])
			require.NoError(t, err)
			require.Equal(t, content, string(kept))
		})
	}
}

func TestMissingStateFileIsAFirstRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	plugin.StateFile = path
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	var infos []string
	for _, m := range log.Messages() {
		if m.Level == testutil.LevelInfo && strings.Contains(m.Text, "state") {
			infos = append(infos, m.Text)
		}
	}
	require.Equal(t, []string{"No state file yet at " + strconv.Quote(path) + "; starting empty"}, infos)
	require.Empty(t, log.Errors())
}

func TestStateFileRecordsAreChecked(t *testing.T) {
	// Two records of MaxInt64 sessions once restored as -2 sessions.
	path := filepath.Join(t.TempDir(), "state.json")
	now := time.Now().UTC().Format(time.RFC3339)
	record := func(user, sessions string) string {
		return `{"server":"SENSE1","directory":"LAB","user_id":"` + user + `","sessions":` + sessions + `,"first_seen":"` + now + `","last_seen":"` + now + `"}`
	}
	data := `{"version":1,"saved_at":"` + now + `","sessions":[` +
		record("anna", "2") + "," + record("huge1", "9223372036854775807") + "," + record("huge2", "9223372036854775807") + "]}"
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	plugin.StateFile = path
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	site := gatherSummaries(t, plugin)[0]
	require.Equal(t, int64(2), site.Fields()["active_sessions"])
	require.Equal(t, `["LAB\\anna"]`, site.Fields()["users"])
	var warnings []string
	for _, w := range log.Warnings() {
		if strings.Contains(w, "State file") {
			warnings = append(warnings, w)
		}
	}
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "2 records skipped: 2 with sessions not a whole number from 1 to 100000; restoring the other 1")
}

func TestInitChecksTheStateFileFolder(t *testing.T) {
	dir := t.TempDir()
	notAFolder := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notAFolder, nil, 0o600))
	tests := []struct {
		name   string
		path   string
		errMsg []string
	}{
		{"missing folder", filepath.Join(dir, "no", "such", "state.json"),
			[]string{"state_file", `folder "` + filepath.Join(dir, "no", "such") + `" does not exist`, "create it, or point state_file elsewhere"}},
		{"folder is a file", filepath.Join(notAFolder, "state.json"), []string{"state_file", "is not a folder"}},
		{"file is a folder", dir, []string{"state_file", "is a folder", "qliksense_sessions.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin := newTestPlugin(t)
			plugin.StateFile = tt.path
			err := plugin.Init()
			for _, msg := range tt.errMsg {
				require.ErrorContains(t, err, msg)
			}
		})
	}

	// A relative path is shown as the folder it resolves to.
	plugin := newTestPlugin(t)
	plugin.StateFile = filepath.Join("no_such_folder", "state.json")
	abs, err := filepath.Abs("no_such_folder")
	require.NoError(t, err)
	require.ErrorContains(t, plugin.Init(), strconv.Quote(abs))

	// A writable folder passes and keeps no probe file.
	plugin = newTestPlugin(t)
	plugin.StateFile = filepath.Join(dir, "state.json")
	require.NoError(t, plugin.Init())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1) // "file"
}

func TestInitChecksStateFilePermissions(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write and read anything")
	}
	readOnly := t.TempDir()
	require.NoError(t, os.Chmod(readOnly, 0o500))
	t.Cleanup(func() { os.Chmod(readOnly, 0o700) })
	plugin := newTestPlugin(t)
	plugin.StateFile = filepath.Join(readOnly, "state.json")
	err := plugin.Init()
	require.ErrorContains(t, err, "cannot create files in folder "+strconv.Quote(readOnly))
	require.ErrorContains(t, err, "write access")

	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o200))
	plugin = newTestPlugin(t)
	plugin.StateFile = path
	require.ErrorContains(t, plugin.Init(), "cannot be read")
}

func TestFailedSaveAtShutdownIsLogged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.Mkdir(dir, 0o700))
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	plugin.StateFile = filepath.Join(dir, "state.json")
	plugin.StateSaveInterval = config.Duration(10 * time.Millisecond)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)

	// The folder goes away: the periodic saves fail, and their log line is
	// throttled to one a minute.
	require.NoError(t, os.RemoveAll(dir))
	send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	require.Eventually(t, func() bool { return plugin.pipeline.Counters().StateSaveErrors >= 2 }, 5*time.Second, time.Millisecond)
	saveWarnings := 0
	for _, w := range log.Warnings() {
		if strings.Contains(w, "Saving state_file failed") {
			saveWarnings++
		}
	}
	require.Equal(t, 1, saveWarnings)
	require.Empty(t, log.Errors())

	// The last save's failure is logged all the same.
	plugin.Stop()
	errs := log.Errors()
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "Saving state_file at shutdown failed")
	require.Contains(t, errs[0], "1 sessions open now")
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
		return plugin.pipeline.ActiveUsers() == 0 && plugin.pipeline.StateCounters().SessionsExpired == 1
	}, 10*time.Second, 10*time.Millisecond)
}

func missingCertProxy() *Proxy {
	p := &Proxy{URL: "https://sense1:4243"}
	p.TLSCert, p.TLSKey = "/nonexistent/client.pem", "/nonexistent/client_key.pem"
	return p
}

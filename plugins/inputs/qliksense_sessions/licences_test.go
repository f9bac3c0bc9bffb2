package qliksense_sessions

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

// licenseSite is a fake repository with every access type enabled, a
// signed key valid to 2027-01-31, and allocations: LAB\anna professional,
// LAB\maria analyzer (quarantined: not held), CORP\bob analyzer.
func licenseSite(t *testing.T) *qrstest.Server {
	t.Helper()
	server := qrstest.NewServer(t, qrstest.Answer(qrstest.App{ID: salesApp, Name: "Sales"}))
	server.SetLicenseAnswer(qrstest.OverviewPath, qrstest.FullOverview().JSON())
	server.SetLicenseAnswer(qrstest.LicensePath, qrstest.LicenseAnswer(false, "Valid From: 2025-01-01\nValid To: 2027-01-31\n", ""))
	server.SetLicenseAnswer(qrstest.ProfessionalPath, qrstest.AllocationsAnswer("License.ProfessionalAccessType",
		[]qrstest.User{{Directory: "LAB", ID: "anna"}}, nil))
	server.SetLicenseAnswer(qrstest.AnalyzerPath, qrstest.AllocationsAnswer("License.AnalyzerAccessType",
		[]qrstest.User{{Directory: "LAB", ID: "maria"}, {Directory: "CORP", ID: "bob"}}, func(i int) bool { return i == 0 }))
	return server
}

// pollWatcher counts the licence polls that ended.
type pollWatcher struct {
	mu    sync.Mutex
	polls int
	ended chan struct{}
}

// wait waits until n polls have ended; it fails after 10 s.
func (w *pollWatcher) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		polls, ended := w.polls, w.ended
		w.mu.Unlock()
		if polls >= n {
			return
		}
		select {
		case <-ended:
		case <-timeout.C:
			t.Fatalf("%d licence polls ended, not %d", polls, n)
		}
	}
}

// startLicensePlugin starts the plugin with a repository block for the
// fake, polling the licences every interval, and returns a socket to send
// to it and a watcher of its polls.
func startLicensePlugin(t *testing.T, plugin *QlikSenseSessions, server *qrstest.Server, interval time.Duration,
	acc telegraf.Accumulator) (net.Conn, *pollWatcher) {
	t.Helper()
	plugin.Repository = &Repository{URL: server.URL, Interval: config.Duration(time.Hour), LicenseInterval: config.Duration(interval)}
	plugin.Repository.TLSCA, plugin.Repository.TLSCert, plugin.Repository.TLSKey = server.CAFile, server.ClientCertFile, server.ClientKeyFile
	require.NoError(t, plugin.Init())
	w := &pollWatcher{ended: make(chan struct{})}
	plugin.Repository.licenses.fetched = func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.polls++
		close(w.ended)
		w.ended = make(chan struct{})
	}
	require.NoError(t, plugin.Start(acc))
	t.Cleanup(plugin.Stop)
	conn, err := net.Dial("udp", plugin.listener.LocalAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn, w
}

func named(acc *testutil.Accumulator, names ...string) []telegraf.Metric {
	var out []telegraf.Metric
	for _, m := range acc.GetTelegrafMetrics() {
		for _, name := range names {
			if m.Name() == name {
				out = append(out, m)
			}
		}
	}
	return out
}

func gatherInternal(t *testing.T, plugin *QlikSenseSessions) map[string]interface{} {
	t.Helper()
	var acc testutil.Accumulator
	require.NoError(t, plugin.Gather(&acc))
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == "qliksense_sessions_internal" {
			return m.Fields()
		}
	}
	t.Fatal("no qliksense_sessions_internal")
	return nil
}

// The poll emits Butler's qlik_sense_license points for every access type
// enabled (floats, Butler's names and order) and the server licence, and
// counts its answers.
func TestLicensePoll(t *testing.T) {
	server := licenseSite(t)
	plugin := newTestPlugin(t)
	var acc testutil.Accumulator
	_, polls := startLicensePlugin(t, plugin, server, time.Hour, &acc)
	polls.wait(t, 1)

	license := func(licenseType string, fields map[string]interface{}) telegraf.Metric {
		return metric.New("qlik_sense_license", map[string]string{"license_type": licenseType}, fields, time.Unix(0, 0))
	}
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		license("analyzer", map[string]interface{}{"allocated": 410.0, "available": 83.0, "excess": 1.0, "quarantined": 7.0, "total": 500.0, "used": 380.0}),
		license("analyzer_capacity", map[string]interface{}{"allocated_minutes": 60000.0, "unavailable_minutes": 6.0, "used_minutes": 12345.0}),
		license("professional", map[string]interface{}{"allocated": 95.0, "available": 3.0, "excess": 0.0, "quarantined": 2.0, "total": 100.0, "used": 90.0}),
		license("token_login", map[string]interface{}{"allocated_tokens": 400.0, "token_cost": 10.0, "unavailable_tokens": 20.0, "used_tokens": 250.0}),
		license("token_user", map[string]interface{}{"allocated_tokens": 200.0, "quarantined_tokens": 3.0, "token_cost": 1.0, "used_tokens": 180.0}),
		license("tokens_available", map[string]interface{}{"available_tokens": 130.0, "total_tokens": 1000.0}),
	}, named(&acc, "qlik_sense_license"), testutil.IgnoreTime())

	servers := named(&acc, "qlik_sense_server_license")
	require.Len(t, servers, 1)
	require.Empty(t, servers[0].Tags())
	fields := servers[0].Fields()
	require.Equal(t, false, fields["license_expired"])
	require.Equal(t, "2027-01-31", fields["expiry_date"])
	require.IsType(t, 0.0, fields["days_until_expiry"])
	days, _ := (&qrs.ServerLicense{Expiry: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)}).DaysUntil(servers[0].Time())
	require.InDelta(t, float64(days), fields["days_until_expiry"], 0)

	internal := gatherInternal(t, plugin)
	require.Equal(t, int64(4), internal["license_fetches"])
	require.Equal(t, int64(0), internal["license_fetch_errors"])
	require.GreaterOrEqual(t, internal["license_age_s"], int64(0))

	requests := server.Requests()
	paths := make([]string, 0, len(requests))
	for _, r := range requests {
		paths = append(paths, r.Path)
		require.Equal(t, qrs.DefaultUserHeader, r.User)
	}
	require.ElementsMatch(t, []string{"/qrs/app", qrs.OverviewPath, qrs.LicensePath, qrs.ProfessionalPath, qrs.AnalyzerPath}, paths)
}

// Access types off are left out; the allocation list of one off is not
// asked for.
func TestLicensePollDisabled(t *testing.T) {
	server := licenseSite(t)
	o := qrstest.FullOverview()
	o.ProfessionalAccess.Enabled, o.AnalyzerTimeAccess.Enabled, o.UserAccess.Enabled, o.TokensEnabled = false, false, false, false
	server.SetLicenseAnswer(qrstest.OverviewPath, o.JSON())
	plugin := newTestPlugin(t)
	var acc testutil.Accumulator
	_, polls := startLicensePlugin(t, plugin, server, time.Hour, &acc)
	polls.wait(t, 1)
	points := named(&acc, "qlik_sense_license")
	types := make([]string, 0, len(points))
	for _, m := range points {
		types = append(types, m.Tags()["license_type"])
	}
	require.Equal(t, []string{"analyzer", "token_login"}, types)
	for _, r := range server.Requests() {
		require.NotEqual(t, qrs.ProfessionalPath, r.Path)
	}
}

// An older repository answers 404 to the licence endpoints: each is
// reported once and never asked again until the next start; the app names
// go on.
func TestLicenseNotThere(t *testing.T) {
	server := qrstest.NewServer(t, qrstest.Answer(qrstest.App{ID: salesApp, Name: "Sales"}))
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	var acc testutil.Accumulator
	_, polls := startLicensePlugin(t, plugin, server, time.Second, &acc)
	polls.wait(t, 3)

	warns := log.Warnings()
	require.Len(t, warns, 4, "%q", warns)
	for i, path := range []string{qrs.OverviewPath, qrs.LicensePath, qrs.ProfessionalPath, qrs.AnalyzerPath} {
		require.Contains(t, warns[i], "Licences: the repository at "+server.URL+" has no "+path)
		require.Contains(t, warns[i], "until the next start")
		require.Contains(t, warns[i], "HTTP status 404")
	}
	licenseRequests := 0
	for _, r := range server.Requests() {
		if strings.HasPrefix(r.Path, "/qrs/license") {
			licenseRequests++
		}
	}
	require.Equal(t, 4, licenseRequests, "asked once each")
	internal := gatherInternal(t, plugin)
	require.Equal(t, int64(0), internal["license_fetches"])
	require.Equal(t, int64(4), internal["license_fetch_errors"])
	require.Contains(t, internal, "license_age_s", "the polls since had nothing left to ask: they are good")
	require.Empty(t, named(&acc, "qlik_sense_license", "qlik_sense_server_license", "qliksense_users_license"))
	require.Equal(t, "Sales", plugin.appName(salesApp))
}

// A failing repository is counted and logged (throttled), and the last
// good allocations are kept; license_age_s grows.
func TestLicenseFailureKeepsTheLastAnswer(t *testing.T) {
	server := licenseSite(t)
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	var acc testutil.Accumulator
	_, polls := startLicensePlugin(t, plugin, server, time.Second, &acc)
	polls.wait(t, 1)
	holders := plugin.Repository.licenses.holders.Load()
	require.NotNil(t, holders)

	server.SetFailure(qrstest.Status500)
	polls.wait(t, 3)
	internal := gatherInternal(t, plugin)
	require.GreaterOrEqual(t, internal["license_fetch_errors"], int64(8))
	require.GreaterOrEqual(t, internal["license_age_s"], int64(1))
	require.Same(t, holders, plugin.Repository.licenses.holders.Load())
	var warns []string
	for _, w := range log.Warnings() {
		if strings.Contains(w, "Licences:") {
			warns = append(warns, w)
		}
	}
	require.Len(t, warns, 1, "one line a minute at most")
	require.Contains(t, warns[0], "Licences: the repository API failed, keeping its last answer: GET "+server.URL)
	require.Contains(t, warns[0], "HTTP status 500")
	for _, w := range warns {
		require.NotContains(t, w, "off until", "a 500 is no 404")
	}
}

// A repository that never answers the licences holds up neither the
// summaries nor Stop.
func TestLicenseHanging(t *testing.T) {
	server := licenseSite(t)
	server.SetFailure(qrstest.Hang)
	plugin := newTestPlugin(t)
	plugin.SummaryInterval = config.Duration(time.Millisecond)
	plugin.EmitEvents = false
	var acc testutil.Accumulator
	conn, _ := startLicensePlugin(t, plugin, server, time.Second, &acc)
	server.WaitRequests(t, 2) // the app names' and the overview's

	send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;CORP;bob;AppAccess;/hub/;Start session for user 'CORP\bob'`)
	for !hasSummaryOf(&acc, 1) {
		acc.Wait(int(acc.NMetrics()) + 1)
	}
	stopped := make(chan struct{})
	go func() {
		plugin.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop waited for the hanging repository")
	}
}

func TestLicenseIntervalInit(t *testing.T) {
	server := licenseSite(t)
	for _, tt := range []struct {
		interval time.Duration
		want     time.Duration
		errMsg   string
	}{
		{0, 5 * time.Minute, ""},
		{time.Second, time.Second, ""},
		{10 * time.Minute, 10 * time.Minute, ""},
		{500 * time.Millisecond, 0, `license_interval 500ms is under "1s"`},
		{-time.Second, 0, `license_interval -1s is under "1s"`},
	} {
		plugin := newTestPlugin(t)
		plugin.Repository = &Repository{URL: server.URL, LicenseInterval: config.Duration(tt.interval)}
		plugin.Repository.TLSCA, plugin.Repository.TLSCert, plugin.Repository.TLSKey = server.CAFile, server.ClientCertFile, server.ClientKeyFile
		err := plugin.Init()
		if tt.errMsg != "" {
			require.ErrorContains(t, err, tt.errMsg)
			require.ErrorContains(t, err, "repository ("+server.URL+")")
			continue
		}
		require.NoError(t, err)
		require.Equal(t, config.Duration(tt.want), plugin.Repository.LicenseInterval)
	}

	cfg := config.NewConfig()
	require.NoError(t, cfg.LoadConfigData([]byte(`
[[inputs.qliksense_sessions]]
  [inputs.qliksense_sessions.repository]
    url = "https://sense-central.example.com:4242"
    license_interval = "15m"
`), config.EmptySourcePath))
	require.Equal(t, config.Duration(15*time.Minute), cfg.Inputs[0].Input.(*QlikSenseSessions).Repository.LicenseInterval)
}

package qliksense_sessions

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

// The licence poll itself is tested in package licences; these tests are
// its wiring: Init's checks, the users by licence in the summaries, and
// a repository that hangs.

// licenseSite is a fake repository that names salesApp and answers every
// licence endpoint (qrstest's small site: LAB\anna professional, LAB\maria
// analyzer but quarantined, CORP\bob analyzer).
func licenseSite(t *testing.T) *qrstest.Server {
	t.Helper()
	server := qrstest.NewServer(t, qrstest.Answer(qrstest.App{ID: salesApp, Name: "Sales"}))
	server.ServeSmallSite()
	return server
}

// startLicensePlugin starts the plugin with a repository block for the
// fake, polling the licences every interval, and returns a socket to send
// to it.
func startLicensePlugin(t *testing.T, plugin *QlikSenseSessions, server *qrstest.Server, interval time.Duration,
	acc telegraf.Accumulator) net.Conn {
	t.Helper()
	plugin.Repository = &Repository{URL: server.URL, Interval: config.Duration(time.Hour), LicenseInterval: licenseInterval(interval)}
	plugin.Repository.TLSCA, plugin.Repository.TLSCert, plugin.Repository.TLSKey = server.CAFile, server.ClientCertFile, server.ClientKeyFile
	require.NoError(t, plugin.Init())
	require.NoError(t, plugin.Start(acc))
	t.Cleanup(plugin.Stop)
	conn, err := net.Dial("udp", plugin.listener.LocalAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitForLicences waits until a licence poll got every answer:
// license_age_s goes out from then on.
func waitForLicences(t *testing.T, plugin *QlikSenseSessions) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, ok := gatherInternal(t, plugin)["license_age_s"]
		return ok
	}, 10*time.Second, 10*time.Millisecond, "no licence poll got every answer")
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

func sessionStart(directory, user string) string {
	return fmt.Sprintf(`/qseow-proxy-session/;SENSE1;Start session;%s;%s;AppAccess;/hub/;Start session for user '%s\%s'`, directory, user, directory, user)
}

func usersLicense(access, users string, active int64, trigger string) telegraf.Metric {
	return metric.New("qliksense_users_license", map[string]string{"access_type": access, "trigger": trigger},
		map[string]interface{}{"active_users": active, "users": users}, time.Unix(0, 0))
}

// The active users by the allocation they hold, matched ignoring case;
// a quarantined allocation is not held; users without one are other.
// They go out with every summary, gathered or on change.
func TestUsersLicense(t *testing.T) {
	server := licenseSite(t)
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.SummaryInterval = 0
	var acc testutil.Accumulator
	conn := startLicensePlugin(t, plugin, server, time.Hour, &acc)
	waitForLicences(t, plugin)
	send(t, conn, sessionStart("LAB", "ANNA"), sessionStart("LAB", "maria"), sessionStart("corp", "BOB"), sessionStart("LAB", "zoe"))
	waitForDatagrams(t, plugin, 4)

	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	got := named(&gathered, "qliksense_users_license")
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		usersLicense("professional", `["LAB\\ANNA"]`, 1, "interval"),
		usersLicense("analyzer", `["corp\\BOB"]`, 1, "interval"),
		usersLicense("other", `["LAB\\maria","LAB\\zoe"]`, 2, "interval"),
	}, got, testutil.IgnoreTime())
	site := named(&gathered, "qliksense_users")
	require.Len(t, site, 1)
	for _, m := range got {
		require.Equal(t, site[0].Time(), m.Time(), "one moment: the summary's time")
	}
}

// The lists are bounded like every users list (users_max_bytes).
func TestUsersLicenseBounded(t *testing.T) {
	server := licenseSite(t)
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.SummaryInterval = 0
	// One name's worth as line protocol writes it (quotes and backslashes
	// escaped): 18 bytes.
	plugin.UsersMaxBytes = config.Size(18)
	var acc testutil.Accumulator
	conn := startLicensePlugin(t, plugin, server, time.Hour, &acc)
	waitForLicences(t, plugin)
	send(t, conn, sessionStart("LAB", "maria"), sessionStart("LAB", "zoe"), sessionStart("LAB", "anna"))
	waitForDatagrams(t, plugin, 3)
	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	other := named(&gathered, "qliksense_users_license")[2]
	require.Equal(t, "other", other.Tags()["access_type"])
	require.Equal(t, map[string]interface{}{"active_users": int64(2), "users": `["LAB\\maria"]`, "users_truncated": true}, other.Fields())
}

// An older repository answers 404 to the licence endpoints: the app names
// go on.
func TestLicenseNotThereAppNamesGoOn(t *testing.T) {
	server := qrstest.NewServer(t, qrstest.Answer(qrstest.App{ID: salesApp, Name: "Sales"}))
	plugin := newTestPlugin(t)
	var acc testutil.Accumulator
	startLicensePlugin(t, plugin, server, time.Second, &acc)
	require.Eventually(t, func() bool {
		internal := gatherInternal(t, plugin)
		return internal["license_fetch_errors"] == int64(4) && internal["app_name_fetches"] == int64(1)
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "Sales", plugin.Repository.apps.Name(salesApp))
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
	conn := startLicensePlugin(t, plugin, server, time.Second, &acc)
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

// licenseInterval is a license_interval as the TOML sets it.
func licenseInterval(d time.Duration) *config.Duration {
	interval := config.Duration(d)
	return &interval
}

// license_interval: unset is 5 minutes, "0s" no licence poll, else at
// least a second.
func TestLicenseIntervalInit(t *testing.T) {
	server := licenseSite(t)
	for _, tt := range []struct {
		interval *config.Duration
		want     time.Duration
		errMsg   string
	}{
		{nil, 5 * time.Minute, ""},
		{licenseInterval(0), 0, ""},
		{licenseInterval(time.Second), time.Second, ""},
		{licenseInterval(10 * time.Minute), 10 * time.Minute, ""},
		{licenseInterval(500 * time.Millisecond), 0, `license_interval 500ms is under "1s"`},
		{licenseInterval(-time.Second), 0, `license_interval -1s is under "1s"`},
	} {
		plugin := newTestPlugin(t)
		plugin.Repository = &Repository{URL: server.URL, LicenseInterval: tt.interval}
		plugin.Repository.TLSCA, plugin.Repository.TLSCert, plugin.Repository.TLSKey = server.CAFile, server.ClientCertFile, server.ClientKeyFile
		err := plugin.Init()
		if tt.errMsg != "" {
			require.ErrorContains(t, err, tt.errMsg)
			require.ErrorContains(t, err, "repository ("+server.URL+")")
			require.ErrorContains(t, err, `or "0s" to ask for no licences`)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, config.Duration(tt.want), *plugin.Repository.LicenseInterval)
		require.Equal(t, tt.want != 0, plugin.Repository.licences != nil, "a licence poll")
	}

	for _, tt := range []struct {
		key  string
		want *config.Duration
	}{
		{`license_interval = "15m"`, licenseInterval(15 * time.Minute)},
		{`license_interval = "0s"`, licenseInterval(0)},
		{``, nil},
	} {
		cfg := config.NewConfig()
		require.NoError(t, cfg.LoadConfigData([]byte(`
[[inputs.qliksense_sessions]]
  [inputs.qliksense_sessions.repository]
    url = "https://sense-central.example.com:4242"
    `+tt.key+`
`), config.EmptySourcePath))
		require.Equal(t, tt.want, cfg.Inputs[0].Input.(*QlikSenseSessions).Repository.LicenseInterval, tt.key)
	}
}

// With license_interval = "0s" no licence request reaches the repository,
// qliksense_sessions_internal has no licence counters, and no licence
// metric goes out; the app names go on.
func TestLicencesOff(t *testing.T) {
	server := licenseSite(t)
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.SummaryInterval = 0
	var acc testutil.Accumulator
	conn := startLicensePlugin(t, plugin, server, 0, &acc)
	waitForFetch(t, "names", func() bool { return plugin.Repository.apps.Name(salesApp) != "" })
	send(t, conn, sessionStart("LAB", "anna"))
	waitForDatagrams(t, plugin, 1)

	internal := gatherInternal(t, plugin)
	require.Equal(t, int64(1), internal["app_name_fetches"])
	for _, field := range []string{"license_fetches", "license_fetch_errors", "license_age_s"} {
		require.NotContains(t, internal, field)
	}
	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	require.Len(t, named(&gathered, "qliksense_users"), 1)
	plugin.Stop()
	require.Empty(t, named(&acc, "qlik_sense_license", "qlik_sense_server_license", "qliksense_users_license"))
	require.Empty(t, named(&gathered, "qliksense_users_license"))
	requests := server.Requests()
	require.Len(t, requests, 1)
	require.Equal(t, "/qrs/app", requests[0].Path)
}

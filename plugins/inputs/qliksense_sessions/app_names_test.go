package qliksense_sessions

import (
	"net"
	"strings"
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

const (
	salesApp   = "3f1d2c4a-1111-2222-3333-444455556666"
	unnamedApp = "0f9e8d7c-6b5a-4321-9876-fedcba987654"
)

// upperUnnamed is unnamedApp as openApps sends it, and as its summaries
// show it (as first seen).
var upperUnnamed = strings.ToUpper(unnamedApp)

// repositoryFor is a repository block for the fake, fetching every interval.
func repositoryFor(server *qrstest.Server, interval time.Duration) *Repository {
	r := &Repository{URL: server.URL, Interval: config.Duration(interval), noLicenses: true}
	r.TLSCA, r.TLSCert, r.TLSKey = server.CAFile, server.ClientCertFile, server.ClientKeyFile
	return r
}

// waitForFetch waits until done, which a fetch of the app list brings;
// it fails after 10 s.
func waitForFetch(t *testing.T, what string, done func() bool) {
	t.Helper()
	require.Eventually(t, done, 10*time.Second, time.Millisecond, "no fetch of app names brought %s", what)
}

// appCounters are the app list's counters in qliksense_sessions_internal.
func appCounters(plugin *QlikSenseSessions) map[string]interface{} {
	fields := map[string]interface{}{}
	plugin.Repository.apps.InternalFields(fields)
	return fields
}

// openApps has anna open one connection to each app; the second id in
// upper case, as a context may carry it.
func openApps(t *testing.T, plugin *QlikSenseSessions, acc *testutil.Accumulator) net.Conn {
	t.Helper()
	return startAndSend(t, plugin, acc,
		startPayload("SENSE1", "LAB", "anna"),
		`/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/app/`+salesApp+`;connection Opened for session 'x'`,
		`/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/app/`+strings.ToUpper(unnamedApp)+`?sheet=1;connection Opened for session 'x'`,
	)
}

// startNaming starts the plugin with a repository block for the fake,
// fetching every interval, and its warnings recorded; anna opens the apps.
func startNaming(t *testing.T, server *qrstest.Server, interval time.Duration) (*QlikSenseSessions, *testutil.CaptureLogger) {
	t.Helper()
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	plugin.Repository = repositoryFor(server, interval)
	var acc testutil.Accumulator
	openApps(t, plugin, &acc)
	return plugin, log
}

// appMetrics gathers and returns the qliksense_users_app metrics and the
// internal counters.
func appMetrics(t *testing.T, plugin *QlikSenseSessions) (apps []telegraf.Metric, internal map[string]interface{}) {
	t.Helper()
	var acc testutil.Accumulator
	require.NoError(t, plugin.Gather(&acc))
	return appMetricsIn(&acc)
}

// appMetricsIn returns the qliksense_users_app metrics and the internal
// counters in acc.
func appMetricsIn(acc *testutil.Accumulator) (apps []telegraf.Metric, internal map[string]interface{}) {
	for _, m := range acc.GetTelegrafMetrics() {
		switch m.Name() {
		case "qliksense_users_app":
			m.RemoveTag("stream") // the streams' tests check it (streams_test.go)
			apps = append(apps, m)
		case "qliksense_sessions_internal":
			internal = m.Fields()
		}
	}
	return apps, internal
}

// appMetric is a gathered qliksense_users_app of anna's. (Tests compare
// them without the users lists, which are the state's.)
func appMetric(id, name string) telegraf.Metric {
	tags := map[string]string{"app_id": id, "trigger": "interval"}
	if name != "" {
		tags["app_name"] = name
	}
	return metric.New("qliksense_users_app", tags,
		map[string]interface{}{"active_users": int64(1), "active_connections": int64(1), "users": `["LAB\\anna"]`}, time.Unix(0, 0))
}

// requireApps checks the app metrics: anna's on each app, the unnamed app
// and the sales app with these names ("" for none).
func requireApps(t *testing.T, apps []telegraf.Metric, unnamedName, salesName string) {
	t.Helper()
	testutil.RequireMetricsEqual(t, []telegraf.Metric{appMetric(upperUnnamed, unnamedName), appMetric(salesApp, salesName)},
		apps, testutil.IgnoreTime(), testutil.SortMetrics(), testutil.IgnoreFields("users"))
}

// The repository's names tag the app metrics; names unfit for a tag value
// are left out, counted and logged, and the others kept.
func TestAppNames(t *testing.T) {
	for _, tt := range []struct {
		name                   string
		answer                 []qrstest.App
		unnamedName, salesName string // the names the two apps get, "" for none
		tracked, leftOut       int64
		warnings               []string
	}{
		{
			name:      "named",
			answer:    []qrstest.App{{ID: salesApp, Name: "Sales, EMEA = Q1"}, {ID: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", Name: "Other"}},
			salesName: "Sales, EMEA = Q1",
			tracked:   2,
		},
		{
			name:        "refused",
			answer:      []qrstest.App{{ID: salesApp, Name: "Sales\nweight=1"}, {ID: unnamedApp, Name: "Stock"}},
			unnamedName: "Stock",
			tracked:     1,
			leftOut:     1,
			warnings: []string{
				"App names: of 2 apps, 1 names refused (control characters or an app id that is not a GUID, e.g. app " + salesApp + ")",
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			server := qrstest.NewServer(t, qrstest.Answer(tt.answer...))
			plugin, log := startNaming(t, server, time.Hour)
			waitForFetch(t, "names", func() bool { return appCounters(plugin)["tracked_app_names"] != int64(0) })

			apps, internal := appMetrics(t, plugin)
			requireApps(t, apps, tt.unnamedName, tt.salesName)
			require.Equal(t, int64(1), internal["app_name_fetches"])
			require.Equal(t, int64(0), internal["app_name_fetch_errors"])
			require.Equal(t, tt.tracked, internal["tracked_app_names"])
			require.Equal(t, tt.leftOut, internal["app_names_left_out"])
			require.Equal(t, tt.warnings, logged(log, testutil.LevelWarn))

			// Requests carry the repository's service account by default.
			requests := server.Requests()
			require.Len(t, requests, 1)
			require.Equal(t, "/qrs/app", requests[0].Path)
			require.Equal(t, qrs.DefaultUserHeader, requests[0].User)

			// Names are looked up ignoring the id's case.
			require.Equal(t, tt.salesName, plugin.Repository.apps.Name(strings.ToUpper(salesApp)))
			require.Equal(t, tt.unnamedName, plugin.Repository.apps.Name(unnamedApp))
		})
	}
}

// Without a repository block, nothing is named and the internal metric
// has no app name counters.
func TestNoRepository(t *testing.T) {
	plugin := newTestPlugin(t)
	var acc testutil.Accumulator
	openApps(t, plugin, &acc)
	apps, internal := appMetrics(t, plugin)
	require.Len(t, apps, 2)
	for _, m := range apps {
		require.False(t, m.HasTag("app_name"))
	}
	for _, field := range []string{"app_name_fetches", "app_name_fetch_errors", "tracked_app_names", "app_names_left_out"} {
		require.NotContains(t, internal, field)
	}
}

// A repository that fails leaves names out, logs one line, and counting
// goes on; once it answers, names come.
func TestAppNamesWhenTheRepositoryFails(t *testing.T) {
	server := qrstest.NewServer(t, qrstest.Answer(qrstest.App{ID: salesApp, Name: "Sales"}))
	server.SetFailure(qrstest.Status500)
	plugin, log := startNaming(t, server, 10*time.Millisecond)
	waitForFetch(t, "three errors", func() bool { return appCounters(plugin)["app_name_fetch_errors"].(int64) >= 3 })

	apps, internal := appMetrics(t, plugin)
	requireApps(t, apps, "", "")
	require.GreaterOrEqual(t, internal["app_name_fetch_errors"], int64(3))
	require.Equal(t, int64(0), internal["app_name_fetches"])
	require.Equal(t, int64(0), internal["tracked_app_names"])

	warns := logged(log, testutil.LevelWarn)
	require.Len(t, warns, 1, "one line per minute at most")
	require.Contains(t, warns[0], "App names: the repository API failed, app_name left out until it answers: GET "+server.URL+"/qrs/app: HTTP status 500")

	server.SetFailure(qrstest.OK)
	waitForFetch(t, "names", func() bool { return plugin.Repository.apps.Name(salesApp) != "" })
	apps, _ = appMetrics(t, plugin)
	requireApps(t, apps, "", "Sales")
}

// A failure after an answer keeps its names; a new answer replaces them.
func TestAppNamesKeptOnFailure(t *testing.T) {
	server := qrstest.NewServer(t, qrstest.Answer(qrstest.App{ID: salesApp, Name: "Sales"}))
	plugin, log := startNaming(t, server, 10*time.Millisecond)
	waitForFetch(t, "names", func() bool { return plugin.Repository.apps.Name(salesApp) != "" })

	server.SetFailure(qrstest.BadJSON)
	waitForFetch(t, "an error", func() bool { return appCounters(plugin)["app_name_fetch_errors"].(int64) >= 1 })
	apps, internal := appMetrics(t, plugin)
	requireApps(t, apps, "", "Sales")
	require.Equal(t, int64(1), internal["tracked_app_names"])
	warns := logged(log, testutil.LevelWarn)
	require.NotEmpty(t, warns)
	require.Contains(t, warns[0], "keeping the 1 names of its last answer")
	require.Contains(t, warns[0], "bad JSON")

	server.SetAnswer(qrstest.Answer(qrstest.App{ID: unnamedApp, Name: "Stock"}))
	server.SetFailure(qrstest.OK)
	waitForFetch(t, "new names", func() bool { return plugin.Repository.apps.Name(unnamedApp) != "" })
	require.Empty(t, plugin.Repository.apps.Name(salesApp), "an app gone from the repository loses its name")
}

// A repository that does not answer holds up neither the summaries nor
// Stop, and its cancelled request is no error.
func TestHangingRepository(t *testing.T) {
	server := qrstest.NewServer(t, qrstest.Answer(qrstest.App{ID: salesApp, Name: "Sales"}))
	server.SetFailure(qrstest.Hang)
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	plugin.Repository = repositoryFor(server, time.Hour)
	plugin.Repository.Timeout = config.Duration(time.Hour)
	plugin.SummaryInterval = config.Duration(time.Millisecond)
	plugin.EmitEvents = false
	var acc testutil.Accumulator
	conn := openApps(t, plugin, &acc)
	server.WaitRequests(t, 1) // the fetch hangs from here on

	// Change summaries go out...
	send(t, conn, startPayload("SENSE1", "CORP", "bob"))
	for !hasSummaryOf(&acc, 2) {
		acc.Wait(int(acc.NMetrics()) + 1)
	}
	// ... and so do gathered ones.
	var gathered testutil.Accumulator
	gatherErr := make(chan error, 1)
	go func() { gatherErr <- plugin.Gather(&gathered) }()
	select {
	case err := <-gatherErr:
		require.NoError(t, err)
		apps, _ := appMetricsIn(&gathered)
		requireApps(t, apps, "", "")
	case <-time.After(10 * time.Second):
		t.Fatal("a gather waited for the hanging repository")
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
	require.Equal(t, int64(0), appCounters(plugin)["app_name_fetch_errors"])
	require.Empty(t, logged(log, testutil.LevelWarn))
}

// hasSummaryOf tells whether a change summary of the site with this many
// users went out.
func hasSummaryOf(acc *testutil.Accumulator, users int64) bool {
	for _, m := range acc.GetTelegrafMetrics() {
		if trigger, _ := m.GetTag("trigger"); m.Name() == "qliksense_users" && trigger == "change" && m.Fields()["active_users"] == users {
			return true
		}
	}
	return false
}

func TestRepositoryInit(t *testing.T) {
	server := qrstest.NewServer(t, "[]")
	tests := []struct {
		name   string
		modify func(*Repository)
		errMsg []string
	}{
		{"empty url", func(r *Repository) { r.URL = "" }, []string{"repository: url is empty", "sense-central.example.com:4242"}},
		{"http", func(r *Repository) { r.URL = "http://central:4242" }, []string{`url "http://central:4242" is plain http`, "use https://central:4242"}},
		{"no scheme", func(r *Repository) { r.URL = "central:4242" }, []string{"is not https://<central node>:4242"}},
		{"query", func(r *Repository) { r.URL = "https://central:4242/?a=b" }, []string{"has a query"}},
		{"negative interval", func(r *Repository) { r.Interval = config.Duration(-time.Second) }, []string{"interval and timeout must not be negative"}},
		{"negative timeout", func(r *Repository) { r.Timeout = config.Duration(-time.Second) }, []string{"interval and timeout must not be negative"}},
		{"user header on two lines", func(r *Repository) { r.UserHeader = "UserDirectory=INTERNAL; UserId=sa_repository\r\nX-Evil: 1" },
			[]string{"user_header", "UserDirectory=INTERNAL; UserId=sa_repository"}},
		{"user header without UserId", func(r *Repository) { r.UserHeader = "sa_repository" }, []string{`user_header "sa_repository" is not`}},
		{"no client certificate", func(r *Repository) { r.TLSCert, r.TLSKey = "", "" }, []string{"tls_cert and tls_key must be set", "client.pem"}},
		{"missing certificate file", func(r *Repository) { r.TLSCert = "/nonexistent/client.pem" },
			[]string{"repository (", "TLS settings", "/nonexistent/client.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin := newTestPlugin(t)
			plugin.Repository = repositoryFor(server, 0)
			tt.modify(plugin.Repository)
			err := plugin.Init()
			require.Error(t, err)
			for _, msg := range tt.errMsg {
				require.ErrorContains(t, err, msg)
			}
		})
	}

	plugin := newTestPlugin(t)
	plugin.Repository = repositoryFor(server, 0)
	plugin.Repository.UserHeader = "userdirectory=INTERNAL;userid=sa_monitor"
	require.NoError(t, plugin.Init())
	require.Equal(t, config.Duration(10*time.Minute), plugin.Repository.Interval)
	require.Equal(t, config.Duration(30*time.Second), plugin.Repository.Timeout)
}

// The block loads from TOML, with Telegraf's TLS option names.
func TestRepositoryConfig(t *testing.T) {
	cfg := config.NewConfig()
	require.NoError(t, cfg.LoadConfigData([]byte(`
[[inputs.qliksense_sessions]]
  [[inputs.qliksense_sessions.proxy]]
    url = "https://sense1.example.com:4243"
  [inputs.qliksense_sessions.repository]
    url = "https://sense-central.example.com:4242"
    interval = "15m"
    timeout = "20s"
    user_header = "UserDirectory=INTERNAL; UserId=sa_repository"
    tls_cert = "/etc/telegraf/qlik/client.pem"
    tls_key = "/etc/telegraf/qlik/client_key.pem"
    tls_ca = "/etc/telegraf/qlik/root.pem"
    tls_server_name = "sense-central"
    insecure_skip_verify = false
`), config.EmptySourcePath))
	require.Len(t, cfg.Inputs, 1)
	plugin := cfg.Inputs[0].Input.(*QlikSenseSessions)
	require.Len(t, plugin.Proxies, 1)
	r := plugin.Repository
	require.NotNil(t, r)
	require.Equal(t, "https://sense-central.example.com:4242", r.URL)
	require.Equal(t, config.Duration(15*time.Minute), r.Interval)
	require.Equal(t, config.Duration(20*time.Second), r.Timeout)
	require.Equal(t, qrs.DefaultUserHeader, r.UserHeader)
	require.Equal(t, "/etc/telegraf/qlik/client.pem", r.TLSCert)
	require.Equal(t, "/etc/telegraf/qlik/client_key.pem", r.TLSKey)
	require.Equal(t, "/etc/telegraf/qlik/root.pem", r.TLSCA)
	require.Equal(t, "sense-central", r.ServerName)
}

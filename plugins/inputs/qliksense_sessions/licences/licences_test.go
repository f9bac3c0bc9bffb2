package licences

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	common_tls "github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

// licenseSite is a fake repository that answers every licence endpoint
// (qrstest's small site).
func licenseSite(t *testing.T) *qrstest.Server {
	t.Helper()
	server := qrstest.NewServer(t, qrstest.Answer())
	server.ServeSmallSite()
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

// newPoller is the licence poll of a repository block for the fake,
// polling every interval, not started.
func newPoller(t *testing.T, server *qrstest.Server, interval time.Duration) *Poller {
	t.Helper()
	tc := common_tls.ClientConfig{TLSCA: server.CAFile, TLSCert: server.ClientCertFile, TLSKey: server.ClientKeyFile}
	tlsConfig, err := tc.TLSConfig()
	require.NoError(t, err)
	client, err := qrs.NewLicenseClient(server.URL, tlsConfig, 30*time.Second, "")
	require.NoError(t, err)
	p, err := New(Config{Client: client, URL: server.URL, Interval: interval, MaxEntries: 100_000, UsersMaxBytes: 512 * 1024})
	require.NoError(t, err)
	return p
}

// startPoller starts the licence poll for the fake, logging to log, and
// returns it and a watcher of its polls.
func startPoller(t *testing.T, server *qrstest.Server, interval time.Duration, acc telegraf.Accumulator,
	log telegraf.Logger) (*Poller, *pollWatcher) {
	t.Helper()
	p := newPoller(t, server, interval)
	w := &pollWatcher{ended: make(chan struct{})}
	p.fetched = func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.polls++
		close(w.ended)
		w.ended = make(chan struct{})
	}
	p.Start(acc, log)
	t.Cleanup(p.Stop)
	return p, w
}

// points are the accumulator's metrics of one measurement.
func points(acc *testutil.Accumulator, measurement string) []telegraf.Metric {
	return slices.DeleteFunc(acc.GetTelegrafMetrics(), func(m telegraf.Metric) bool { return m.Name() != measurement })
}

func internalFields(p *Poller) map[string]interface{} {
	fields := map[string]interface{}{}
	p.InternalFields(fields)
	return fields
}

// The poll emits Butler's qlik_sense_license points for every access type
// enabled (floats, Butler's names and order) and the server licence, and
// counts its answers.
func TestLicensePoll(t *testing.T) {
	server := licenseSite(t)
	var acc testutil.Accumulator
	p, polls := startPoller(t, server, time.Hour, &acc, testutil.Logger{})
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
	}, points(&acc, "qlik_sense_license"), testutil.IgnoreTime())

	servers := points(&acc, "qlik_sense_server_license")
	require.Len(t, servers, 1)
	require.Empty(t, servers[0].Tags())
	fields := servers[0].Fields()
	require.Equal(t, false, fields["license_expired"])
	require.Equal(t, "2027-01-31", fields["expiry_date"])
	require.IsType(t, 0.0, fields["days_until_expiry"])
	days, _ := (&qrs.ServerLicense{Expiry: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)}).DaysUntil(servers[0].Time())
	require.InDelta(t, float64(days), fields["days_until_expiry"], 0)

	internal := internalFields(p)
	require.Equal(t, int64(4), internal["license_fetches"])
	require.Equal(t, int64(0), internal["license_fetch_errors"])
	require.GreaterOrEqual(t, internal["license_age_s"], int64(0))

	requests := server.Requests()
	paths := make([]string, 0, len(requests))
	for _, r := range requests {
		paths = append(paths, r.Path)
		require.Equal(t, qrs.DefaultUserHeader, r.User)
	}
	require.ElementsMatch(t, []string{qrs.OverviewPath, qrs.LicensePath, qrs.ProfessionalPath, qrs.AnalyzerPath}, paths)
}

// Access types off are left out; the allocation list of one off is not
// asked for.
func TestLicensePollDisabled(t *testing.T) {
	server := licenseSite(t)
	o := qrstest.FullOverview()
	o.ProfessionalAccess.Enabled, o.AnalyzerTimeAccess.Enabled, o.UserAccess.Enabled, o.TokensEnabled = false, false, false, false
	server.SetLicenseAnswer(qrstest.OverviewPath, o.JSON())
	var acc testutil.Accumulator
	_, polls := startPoller(t, server, time.Hour, &acc, testutil.Logger{})
	polls.wait(t, 1)
	points := points(&acc, "qlik_sense_license")
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
// reported once and never asked again until the next start.
func TestLicenseNotThere(t *testing.T) {
	server := qrstest.NewServer(t, qrstest.Answer())
	log := &testutil.CaptureLogger{}
	var acc testutil.Accumulator
	p, polls := startPoller(t, server, time.Second, &acc, log)
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
	internal := internalFields(p)
	require.Equal(t, int64(0), internal["license_fetches"])
	require.Equal(t, int64(4), internal["license_fetch_errors"])
	require.Contains(t, internal, "license_age_s", "the polls since had nothing left to ask: they are good")
	require.Empty(t, acc.GetTelegrafMetrics())
}

// A failing repository is counted and logged (throttled), and the last
// good allocations are kept; license_age_s grows.
func TestLicenseFailureKeepsTheLastAnswer(t *testing.T) {
	server := licenseSite(t)
	log := &testutil.CaptureLogger{}
	var acc testutil.Accumulator
	p, polls := startPoller(t, server, time.Second, &acc, log)
	polls.wait(t, 1)
	holders := p.holders.Load()
	require.NotNil(t, holders)

	server.SetFailure(qrstest.Status500)
	polls.wait(t, 3)
	internal := internalFields(p)
	require.GreaterOrEqual(t, internal["license_fetch_errors"], int64(8))
	require.GreaterOrEqual(t, internal["license_age_s"], int64(1))
	require.Same(t, holders, p.holders.Load())
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

// New refuses an interval under a second, naming the key.
func TestNewInterval(t *testing.T) {
	for _, tt := range []struct {
		interval time.Duration
		errMsg   string
	}{
		{time.Second, ""},
		{10 * time.Minute, ""},
		{500 * time.Millisecond, `license_interval 500ms is under "1s"`},
		{-time.Second, `license_interval -1s is under "1s"`},
	} {
		_, err := New(Config{Interval: tt.interval})
		if tt.errMsg != "" {
			require.ErrorContains(t, err, tt.errMsg)
			continue
		}
		require.NoError(t, err)
	}
}

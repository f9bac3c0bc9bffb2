//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// exposition is one scrape of a Prometheus text endpoint.
type exposition struct {
	series map[string]float64 // name with labels, as printed, to value
	types  map[string]string  // metric name to its # TYPE
}

// scrape reads the Prometheus text exposition; nil while nothing listens.
func scrape(t *testing.T, url string) *exposition {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec // G107: the test's own loopback endpoint
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	exp := &exposition{series: make(map[string]float64), types: make(map[string]string)}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			exp.types[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		value, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		exp.series[line[:i]] = value
	}
	return exp
}

// qliksenseTypes returns the plugin's metric names and their types.
func (exp *exposition) qliksenseTypes() map[string]string {
	out := make(map[string]string)
	for name, typ := range exp.types {
		if strings.HasPrefix(name, "qliksense") {
			out[name] = typ
		}
	}
	return out
}

// prometheusSeries is what examples/telegraf-prometheus.conf serves of a
// contract: the integer fields but the events', the virtual proxies' and
// the session API's refusals (those need the proxy session API), typed as the example declares (and
// the README lists). users_truncated, a bool, is dropped.
func prometheusSeries(contract map[string]map[string]string) map[string]string {
	want := make(map[string]string)
	for measurement, fields := range contract {
		if measurement == "qliksense_session_event" || measurement == "qliksense_users_virtual_proxy" {
			continue
		}
		for field, kind := range fields {
			if kind != "int" || strings.HasPrefix(field, "api_sessions_") {
				continue
			}
			typ := "gauge"
			if measurement == "qliksense_sessions_internal" && !internalGauges[field] && !strings.HasPrefix(field, "tracked_") {
				typ = "counter"
			}
			want[measurement+"_"+field] = typ
		}
	}
	return want
}

// internalGauges are the fields of qliksense_sessions_internal that are no
// counters, besides tracked_*.
var internalGauges = map[string]bool{"log_open_files": true, "app_names_left_out": true, "license_age_s": true}

// simulationApps returns the ids of the apps a simulation with this seed
// opens: they depend on the seed alone.
func simulationApps(t *testing.T, seed uint64) []string {
	t.Helper()
	sim, err := replay.NewSimulation(replay.SimConfig{Users: 100, Directories: 1, Servers: 1, Events: 20000, Seed: seed, Format: "sos"})
	require.NoError(t, err)
	var ids []string
	for ev, ok := sim.Next(); ok; ev, ok = sim.Next() {
		if id := event.AppID(ev.Context); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestPrometheus runs the shipped examples/telegraf-prometheus.conf and
// scrapes its endpoint: the gauges carry the replay's expected counts, per
// app too (an app whose last user left at 0), the series are exactly the
// documented ones with their types, and neither the users lists (nor
// whether they were cut) nor the events become series.
func TestPrometheus(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	// Lists cut short: users_truncated is no series either. The repository
	// names every other app; the log file source (with no files) adds its
	// counters.
	const seed = 33
	names, repository, repositoryAPI := everyOtherAppNamed(t, seed)
	streams := everyOtherAppStreams(t, seed)
	pluginConf := pluginConfig(t, dir, udpPort, `  users_max_bytes = "64B"`+"\n"+logfileBlock(t.TempDir())+repository)
	tg := startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-prometheus.conf"),
		exampleEnv(bin, pluginConf, "QSS_PROMETHEUS_LISTEN="+listen))
	// Summaries made before the repository first answered would carry no
	// app_name: their series would linger beside the named ones until they
	// expire.
	// The plugin asks at start, and logs its first answer as it takes the
	// names in, long before the replay's first datagram can make a summary.
	repositoryAPI.WaitRequests(t, 1)
	tg.waitForLog(t, "App names: ", 30*time.Second)
	expected := replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort),
		"-users", "50", "-directories", "2", "-servers", "2", "-events", "3000", "-rate", "5000", "-seed", strconv.Itoa(seed))
	require.NotZero(t, expected.ActiveUsers)

	host, err := os.Hostname() // Telegraf's host tag becomes a label
	require.NoError(t, err)
	want := map[string]float64{
		`qliksense_users_active_users{host="` + host + `"}`:    float64(expected.ActiveUsers),
		`qliksense_users_active_sessions{host="` + host + `"}`: float64(expected.ActiveSessions),
	}
	for _, srv := range expected.Servers {
		want[`qliksense_users_server_active_users{host="`+host+`",server="`+srv.Server+`"}`] = float64(srv.ActiveUsers)
		want[`qliksense_users_server_active_sessions{host="`+host+`",server="`+srv.Server+`"}`] = float64(srv.ActiveSessions)
	}
	require.NotEmpty(t, expected.Apps)
	named := 0
	for _, app := range expected.Apps {
		labels := `{app_id="` + app.App + `",host="` + host + `"}`
		if name, ok := names[app.App]; ok {
			labels = `{app_id="` + app.App + `",app_name="` + name + `",host="` + host + `",stream="` + streams[app.App] + `"}`
			named++
		}
		want[`qliksense_users_app_active_users`+labels] = float64(app.ActiveUsers)
		want[`qliksense_users_app_active_connections`+labels] = float64(app.ActiveConnections)
	}
	require.NotZero(t, named, "some apps in use have names")
	require.Less(t, named, len(expected.Apps), "some apps in use have none")
	// Apps whose last user left show their final zero until the series
	// expire (expiration_interval).
	appsOK := func(exp *exposition) bool {
		for name, value := range exp.series {
			if strings.HasPrefix(name, "qliksense_users_app_") {
				if _, expected := want[name]; !expected && value != 0 {
					return false
				}
			}
		}
		return true
	}
	url := "http://" + listen + "/metrics"
	var exp *exposition
	require.Eventually(t, func() bool {
		exp = scrape(t, url)
		if exp == nil {
			return false
		}
		for name, value := range want {
			if got, ok := exp.series[name]; !ok || got != value {
				return false
			}
		}
		return appsOK(exp)
	}, 60*time.Second, 250*time.Millisecond, "the endpoint never served the expected gauges")

	// The intake counters come with the first gather (every 10 s).
	require.Eventually(t, func() bool {
		exp = scrape(t, url)
		return exp != nil && exp.series[`qliksense_sessions_internal_datagrams_received{host="`+host+`"}`] == float64(expected.EventsSent)
	}, 30*time.Second, 250*time.Millisecond, "the intake counters never showed %d datagrams", expected.EventsSent)
	malformed := exp.series[`qliksense_sessions_internal_malformed{host="`+host+`"}`]
	tracked := exp.series[`qliksense_sessions_internal_tracked_users{host="`+host+`"}`]
	require.Equal(t, float64(0), malformed)                  //nolint:testifylint // float-compare: a count, exact in a float64
	require.Equal(t, float64(expected.ActiveUsers), tracked) //nolint:testifylint // float-compare: a count, exact in a float64

	got := exp.qliksenseTypes()
	served := make([]string, 0, len(got))
	for name, typ := range got {
		served = append(served, name+" "+typ)
	}
	sort.Strings(served)
	t.Logf("served:\n%s", strings.Join(served, "\n"))
	require.Equal(t, prometheusSeries(withContract(metricContract, blocksContract)), got, "the series and types the README lists")
	for name := range exp.series {
		require.NotContains(t, name, "qliksense_session_event", "events are no gauges")
		require.NotContains(t, name, "users=", "the users list must not become a label")
		require.NotContains(t, name, "user=", "no label per user")
		require.NotContains(t, name, "trigger=", "no label for why a summary went out")
		if strings.HasPrefix(name, "qliksense_users_app_") {
			const labels = `app_id="[0-9a-f-]{36}",(app_name="Sales \d+",host="[^"]*",stream="(Everyone|\(unpublished\))"|host="[^"]*")`
			require.Regexp(t, `^qliksense_users_app_active_(users|connections)\{`+labels+`\}$`, name,
				"apps are labelled by app_id (and app_name and stream when the repository names them)")
		}
	}
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/qps/qpstest"
)

// emittedNames runs the real binary on the sample day with a proxy block
// and emit_events, and returns every measurement with its fields and tags,
// and every value of the event tag: what the plugin really emits.
func emittedNames(t *testing.T) (map[string]map[string]bool, map[string]bool) {
	t.Helper()
	bin := binDir(t)
	server := qpstest.NewServer(t, map[string]string{"": `[{"UserDirectory":"LAB","UserId":"anna","SessionId":"1"}]`})
	port := freeUDPPort(t)
	conf := pluginConfig(t, t.TempDir(), port, fmt.Sprintf(`  event_message = true
  [[inputs.qliksense_sessions.proxy]]
    url = %q
    server = "SENSE1"
    tls_cert = %q
    tls_key = %q
    tls_ca = %q
`, server.URL, server.ClientCertFile, server.ClientKeyFile, server.CAFile))
	p := startPluginPoll(t, bin, conf, "1s")
	replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", port), "-file", repoFile(t, "testdata/sample-day.txt"))

	names := make(map[string]map[string]bool)
	events := make(map[string]bool)
	require.Eventually(t, func() bool {
		for _, m := range p.snapshot() {
			if names[m.Name()] == nil {
				names[m.Name()] = make(map[string]bool)
			}
			for _, f := range m.FieldList() {
				names[m.Name()][f.Key] = true
			}
			for _, tag := range m.TagList() {
				names[m.Name()][tag.Key] = true
			}
			if e, ok := m.GetTag("event"); ok {
				events[e] = true
			}
		}
		return names["qliksense_sessions_internal"] != nil && names["qliksense_users_virtual_proxy"] != nil && len(events) == 4
	}, 30*time.Second, 100*time.Millisecond, "the plugin did not emit every measurement")
	return names, events
}

// TestGrafanaDashboardNamesRealMetrics: every measurement, field, tag and
// event value that examples/grafana/qliksense-sessions.json queries is one the
// plugin emits.
func TestGrafanaDashboardNamesRealMetrics(t *testing.T) {
	data, err := os.ReadFile(repoFile(t, "examples/grafana/qliksense-sessions.json"))
	require.NoError(t, err)
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Query string `json:"query"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dashboard))
	require.NotEmpty(t, dashboard.Panels)

	names, events := emittedNames(t)
	var measurements []string
	for m := range names {
		measurements = append(measurements, m)
	}
	sort.Strings(measurements)
	t.Logf("emitted measurements: %v", measurements)

	queries := 0
	for _, panel := range dashboard.Panels {
		for _, target := range panel.Targets {
			queries++
			require.NoError(t, checkQuery(names, events, target.Query), panel.Title)
		}
	}
	require.GreaterOrEqual(t, queries, 10)

	// The check itself catches invented names.
	require.Error(t, checkQuery(names, events, `SELECT last("active_users") FROM "qliksense_users_total"`))
	require.Error(t, checkQuery(names, events, `SELECT last("active_user") FROM "qliksense_users"`))
	require.Error(t, checkQuery(names, events, `SELECT count("user") FROM "qliksense_session_event" WHERE "event" = 'login'`))
	require.Error(t, checkQuery(names, events, `SELECT last("active_users") FROM "qliksense_users" GROUP BY "servers"`))
}

var (
	fromClause = regexp.MustCompile(`FROM "([^"]+)"`)
	aliasName  = regexp.MustCompile(`AS "[^"]*"`)
	quotedName = regexp.MustCompile(`"([^"]+)"`)
	eventValue = regexp.MustCompile(`"event" = '([^']*)'`)
)

// checkQuery fails an InfluxQL query that names a measurement, field, tag
// or event value the plugin does not emit.
func checkQuery(names map[string]map[string]bool, events map[string]bool, q string) error {
	match := fromClause.FindStringSubmatch(q)
	if match == nil {
		return fmt.Errorf("no FROM in %q", q)
	}
	measurement := match[1]
	fields := names[measurement]
	if fields == nil {
		return fmt.Errorf("measurement %q is not emitted by the plugin", measurement)
	}
	for _, name := range quotedName.FindAllStringSubmatch(aliasName.ReplaceAllString(q, ""), -1) {
		if name[1] != measurement && !fields[name[1]] {
			return fmt.Errorf("%q is no field or tag of %s (query %q)", name[1], measurement, q)
		}
	}
	for _, value := range eventValue.FindAllStringSubmatch(q, -1) {
		if !events[value[1]] {
			return fmt.Errorf("the event tag never has the value %q", value[1])
		}
	}
	return nil
}

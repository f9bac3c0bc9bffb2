//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		RawQuery bool   `json:"rawQuery"`
		Query    string `json:"query"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // inside rows
	// TimeFrom is the panel's own range (Grafana's relative time), e.g. for
	// the days' points, stamped with the day's start.
	TimeFrom string `json:"timeFrom"`
}

// dashboardQuery is one InfluxQL query of the Grafana dashboard.
type dashboardQuery struct{ panel, query, timeFrom string }

// dashboardQueries returns every query of examples/grafana/qliksense-sessions.json
// and the names of its template variables (with the $).
func dashboardQueries(t *testing.T) ([]dashboardQuery, map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(repoFile(t, "examples/grafana/qliksense-sessions.json"))
	require.NoError(t, err)
	var dashboard struct {
		Panels     []dashboardPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(data, &dashboard))
	vars := map[string]bool{"$timeFilter": true, "$__interval": true}
	for _, v := range dashboard.Templating.List {
		vars["$"+v.Name] = true
	}
	var queries []dashboardQuery
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			for _, target := range p.Targets {
				require.True(t, target.RawQuery, "panel %q: a query built in Grafana's editor is not checked; write it as raw InfluxQL", p.Title)
				queries = append(queries, dashboardQuery{p.Title, target.Query, p.TimeFrom})
			}
			walk(p.Panels)
		}
	}
	walk(dashboard.Panels)
	return queries, vars
}

// TestGrafanaDashboardNamesRealMetrics: every measurement, field, tag and
// event value that examples/grafana/qliksense-sessions.json queries is in
// metricContract or blocksContract (which TestMetricContract holds the
// binary to), and the check catches invented names.
func TestGrafanaDashboardNamesRealMetrics(t *testing.T) {
	queries, vars := dashboardQueries(t)
	require.GreaterOrEqual(t, len(queries), 10)
	measurements := map[string]bool{}
	for _, dq := range queries {
		m, err := checkQuery(dq.query, vars)
		require.NoError(t, err, "panel %q", dq.panel)
		measurements[m] = true
	}
	// Every measurement but the per virtual proxy one (which needs the
	// proxy session API) has a panel.
	for m := range metricContract {
		if m != "qliksense_users_virtual_proxy" {
			require.True(t, measurements[m], "no panel shows %s", m)
		}
	}

	// The check itself catches invented names.
	for _, q := range []string{
		`SELECT last("active_users") FROM "qliksense_users_total" WHERE $timeFilter`,
		`SELECT last("active_user") FROM "qliksense_users" WHERE $timeFilter`,
		`SELECT last(active_user) FROM "qliksense_users" WHERE $timeFilter`,
		`SELECT last("active_users") FROM qliksense_users WHERE $timeFilter`,
		`SELECT count("user") FROM "qliksense_session_event" WHERE "event" = 'login'`,
		`SELECT count("user") FROM "$events_rp"."qliksense_session_event" WHERE $timeFilter`,
		`SELECT last("active_users") FROM "qliksense_users" WHERE $timeFilter GROUP BY "servers"`,
		`SELECT last("active_users") FROM "qliksense_users" WHERE $timeFilter GROUP BY server`,
		`SELECT last("app_id") FROM "qliksense_users" WHERE $timeFilter`,
		`SELECT last("active_sessions") FROM "qliksense_users_app" WHERE $timeFilter GROUP BY "app_id"`,
		`SELECT last("active_users") FROM "qliksense_users_app" WHERE $timeFilter GROUP BY "app"`,
		`SELECT "session_duration" FROM "$event_rp"."qliksense_session_event" WHERE $timeFilter`,
		`SELECT sum("users") FROM (SELECT last("active_users") AS "users" FROM "qliksense_users_apps") GROUP BY "app_name"`,
	} {
		_, err := checkQuery(q, vars)
		require.Error(t, err, q)
	}
}

var (
	fromClause   = regexp.MustCompile(`FROM (?:"(\$\w+)"\.)?"([^"]+)"`)
	aliasName    = regexp.MustCompile(`AS "[^"]*"`)
	quotedName   = regexp.MustCompile(`"([^"]+)"`)
	stringValue  = regexp.MustCompile(`'[^']*'`)
	variableName = regexp.MustCompile(`\$\w+`)
	eventValue   = regexp.MustCompile(`"event" = '([^']*)'`)
	bareWord     = regexp.MustCompile(`\b[A-Za-z_]\w*\b`)
)

// influxQLWords are the keywords and functions the dashboard may use
// unquoted; any other bare word would be an unchecked name.
var influxQLWords = map[string]bool{
	"select": true, "from": true, "where": true, "and": true, "or": true, "group": true, "by": true, "as": true,
	"time": true, "now": true, "fill": true, "previous": true, "null": true, "none": true, "linear": true,
	"order": true, "desc": true, "asc": true, "limit": true,
	"last": true, "first": true, "max": true, "min": true, "mean": true, "median": true, "count": true, "sum": true,
	"distinct": true, "spread": true, "non_negative_derivative": true, "derivative": true, "difference": true,
	"percentile": true,
}

// dashboardContract is what the dashboard may query: metricContract and
// the names the optional blocks add (app_name with a repository block, and
// the licences of a repository that has them).
var dashboardContract = withContract(withContract(metricContract, blocksContract), licenseContract)

// checkQuery returns the measurement an InfluxQL query reads, or an error if
// it names a measurement, field, tag, event value or variable that does not
// exist, or names anything unquoted (where it could not be checked).
func checkQuery(q string, vars map[string]bool) (string, error) {
	match := fromClause.FindStringSubmatch(q)
	if match == nil {
		return "", fmt.Errorf(`no FROM "measurement" in %q`, q)
	}
	measurement := match[2]
	fields := dashboardContract[measurement]
	if fields == nil {
		return "", fmt.Errorf("measurement %q is not emitted by the plugin", measurement)
	}
	for _, v := range variableName.FindAllString(q, -1) {
		if !vars[v] {
			return "", fmt.Errorf("variable %s is not defined in the dashboard (query %q)", v, q)
		}
	}
	withoutAliases := aliasName.ReplaceAllString(q, "")
	for _, name := range quotedName.FindAllStringSubmatch(withoutAliases, -1) {
		if name[1] == measurement || strings.HasPrefix(name[1], "$") {
			continue
		}
		if _, ok := fields[name[1]]; !ok {
			return "", fmt.Errorf("%q is no field or tag of %s (query %q)", name[1], measurement, q)
		}
	}
	for _, value := range eventValue.FindAllStringSubmatch(q, -1) {
		if measurement != "qliksense_session_event" || !eventContract[value[1]] {
			return "", fmt.Errorf("the event tag never has the value %q", value[1])
		}
	}
	bare := variableName.ReplaceAllString(stringValue.ReplaceAllString(quotedName.ReplaceAllString(withoutAliases, ""), ""), "")
	for _, word := range bareWord.FindAllString(bare, -1) {
		if !influxQLWords[strings.ToLower(word)] {
			return "", fmt.Errorf("unquoted name %q cannot be checked; quote it (query %q)", word, q)
		}
	}
	return measurement, nil
}

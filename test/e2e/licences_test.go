//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

// licenseContract is what a repository with the licence endpoints adds to
// blocksContract (issue 20): Butler's qlik_sense_license (floats, as
// Butler's node-influx writes them) and qlik_sense_server_license, with
// our capacity burn on the analyzer_capacity point (hours_left only while
// minutes are being used), and the active users by licence.
var licenseContract = map[string]map[string]string{
	"qlik_sense_license": withTags(map[string]string{
		"allocated": "float", "available": "float", "excess": "float", "quarantined": "float", "total": "float", "used": "float",
		"allocated_minutes": "float", "unavailable_minutes": "float", "used_minutes": "float",
		"minutes_per_hour": "float", "hours_left": "float",
		"allocated_tokens": "float", "token_cost": "float", "unavailable_tokens": "float", "used_tokens": "float", "quarantined_tokens": "float",
		"available_tokens": "float", "total_tokens": "float",
	}, "license_type"),
	"qlik_sense_server_license": {"license_expired": "bool", "expiry_date": "string", "days_until_expiry": "float"},
	"qliksense_users_license": withTags(map[string]string{"active_users": "int", "users": "string", "users_truncated": "bool"},
		"access_type", "trigger"),
}

// licenseRepository is the repository block (polling the licences every
// second) of a fake repository that names apps and answers the licence
// endpoints: the overview (its used minutes rising by 6 every 300 ms, so
// that the capacity burns), a signed key valid to keyValidTo, and the
// allocation lists of LAB\user0..49 (user0..4 professional, the others
// analyzer, every seventh of them quarantined).
func licenseRepository(t *testing.T, overview qrstest.Overview, apps ...qrstest.App) string {
	t.Helper()
	block, server := repositoryServer(t, apps)
	return block + serveLicences(t, server, overview)
}

// serveLicences makes a fake repository answer the licence endpoints as
// licenseRepository's does, and returns the repository block's line that
// polls them every second.
func serveLicences(t *testing.T, server *qrstest.Server, overview qrstest.Overview) string {
	t.Helper()
	server.SetLicenseAnswer(qrstest.OverviewPath, overview.JSON())
	server.SetLicenseAnswer(qrstest.LicensePath, qrstest.LicenseAnswer(false, "Valid From: 2025-01-01\nValid To: "+keyValidTo+"\n", ""))
	var professional, analyzer []qrstest.User
	for i := range 50 {
		u := qrstest.User{Directory: "LAB", ID: fmt.Sprintf("user%d", i)}
		if i < 5 {
			professional = append(professional, u)
		} else {
			analyzer = append(analyzer, u)
		}
	}
	server.SetLicenseAnswer(qrstest.ProfessionalPath, qrstest.AllocationsAnswer("License.ProfessionalAccessType", professional, nil))
	server.SetLicenseAnswer(qrstest.AnalyzerPath, qrstest.AllocationsAnswer("License.AnalyzerAccessType", analyzer,
		func(i int) bool { return i%7 == 6 }))
	if overview.AnalyzerTimeAccess.Enabled {
		done := make(chan struct{})
		t.Cleanup(func() { close(done) })
		go func() {
			ticker := time.NewTicker(300 * time.Millisecond)
			defer ticker.Stop()
			for {
				select {
				case <-done:
					return
				case <-ticker.C:
					overview.AnalyzerTimeAccess.UsedMinutes += 6
					server.SetLicenseAnswer(qrstest.OverviewPath, overview.JSON())
				}
			}
		}()
	}
	return "    license_interval = \"1s\"\n"
}

const keyValidTo = "2099-01-31"

// butlerPoint is one datapoint as Butler hands it to node-influx.
type butlerPoint struct {
	measurement string
	tags        map[string]string
	fields      map[string]any
}

// butlerLicensePoints is Butler's postQlikSenseLicenseStatusToInfluxDB
// (src/lib/influxdb/qlik_sense_license.js) on the overview body as
// qrs-interact parses it (JSON.parse): one point per enabled type, in its
// order, each field read from the property Butler reads. A property the
// body lacks is JavaScript's undefined: nil here. (No static tags are
// configured: its tags are license_type alone.)
func butlerLicensePoints(t *testing.T, body string) []butlerPoint {
	t.Helper()
	var status map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &status))
	get := func(object, property string) any {
		if o, ok := status[object].(map[string]any); ok {
			return o[property]
		}
		return nil
	}
	// JavaScript's === true.
	isTrue := func(v any) bool {
		b, ok := v.(bool)
		return ok && b
	}
	var points []butlerPoint
	push := func(licenseType string, fields map[string]any) {
		points = append(points, butlerPoint{"qlik_sense_license", map[string]string{"license_type": licenseType}, fields})
	}
	if isTrue(get("analyzerAccess", "enabled")) {
		push("analyzer", map[string]any{
			"allocated": get("analyzerAccess", "allocated"), "available": get("analyzerAccess", "available"),
			"excess": get("analyzerAccess", "excess"), "quarantined": get("analyzerAccess", "quarantined"),
			"total": get("analyzerAccess", "total"), "used": get("analyzerAccess", "used"),
		})
	}
	if isTrue(get("analyzerTimeAccess", "enabled")) {
		push("analyzer_capacity", map[string]any{
			"allocated_minutes":   get("analyzerTimeAccess", "allocatedMinutes"),
			"unavailable_minutes": get("analyzerTimeAccess", "unavailableMinutes"),
			"used_minutes":        get("analyzerTimeAccess", "usedMinutes"),
		})
	}
	if isTrue(get("professionalAccess", "enabled")) {
		push("professional", map[string]any{
			"allocated": get("professionalAccess", "allocated"), "available": get("professionalAccess", "available"),
			"excess": get("professionalAccess", "excess"), "quarantined": get("professionalAccess", "quarantined"),
			"total": get("professionalAccess", "total"), "used": get("professionalAccess", "used"),
		})
	}
	if isTrue(get("loginAccess", "enabled")) {
		push("token_login", map[string]any{
			"allocated_tokens": get("loginAccess", "allocatedTokens"), "token_cost": get("loginAccess", "tokenCost"),
			"unavailable_tokens": get("loginAccess", "unavailableTokens"), "used_tokens": get("loginAccess", "usedTokens"),
		})
	}
	if isTrue(get("userAccess", "enabled")) {
		push("token_user", map[string]any{
			"allocated_tokens": get("userAccess", "allocatedTokens"), "quarantined_tokens": get("userAccess", "quarantinedTokens"),
			"token_cost":  get("userAccess", "tokenCost"),
			"used_tokens": get("userAccess", "userTokens"), // sic: Butler's property name
		})
	}
	if isTrue(status["tokensEnabled"]) {
		push("tokens_available", map[string]any{"available_tokens": status["availableTokens"], "total_tokens": status["totalTokens"]})
	}
	return points
}

// influxValue is a field as node-influx writes it without a schema
// (coerceBadly: a string quoted, anything else String(value)) and InfluxDB
// reads it back: a JavaScript number is a float, undefined is refused.
func influxValue(v any) (value any, refused bool) {
	switch v := v.(type) {
	case nil:
		return nil, true // "undefined": not a line protocol value
	case float64, bool, string:
		return v, false
	}
	panic(fmt.Sprintf("no JSON value: %T", v))
}

// butlerServerLicense is Butler's checkQlikSenseServerLicenseStatus and
// postQlikSenseServerLicenseStatusToInfluxDB on a signed key valid to
// validTo, at now.
func butlerServerLicense(validTo string, now time.Time) map[string]any {
	expiry, err := time.Parse(time.DateOnly, validTo) // new Date("YYYY-MM-DD"): UTC midnight
	if err != nil {
		panic(err)
	}
	diff := math.Abs(float64(expiry.Sub(now).Milliseconds()))
	return map[string]any{
		"license_expired":   false,
		"expiry_date":       validTo,
		"days_until_expiry": math.Ceil(diff / (1000 * 60 * 60 * 24)),
	}
}

// TestLicenseButlerFieldForField runs the real Telegraf with the plugin and
// a repository block: the qlik_sense_license points of each poll equal,
// field for field, what Butler writes for the same overview answer (names,
// float values, tags, order), but for the documented differences:
// token_user's used_tokens, which Butler reads from a property the
// overview does not have (its line would be refused), and our capacity
// burn on analyzer_capacity. qlik_sense_server_license is Butler's too.
func TestLicenseButlerFieldForField(t *testing.T) {
	someOff := qrstest.FullOverview()
	someOff.ProfessionalAccess.Enabled, someOff.UserAccess.Enabled = false, false
	for name, overview := range map[string]qrstest.Overview{"every type enabled": qrstest.FullOverview(), "professional and user passes off": someOff} {
		t.Run(name, func(t *testing.T) {
			bin := binDir(t)
			dir := t.TempDir()
			udpPort := freeUDPPort(t)
			block := licenseRepository(t, overview)
			pluginConf := pluginConfig(t, dir, udpPort, block)
			outFile := filepath.Join(dir, "metrics.out")
			telegrafConf := fileTelegraf{interval: "10s", flushInterval: "100ms", batchSize: defaultBatchSize, bufferLimit: defaultBufferLimit,
				poll: "10s", restartDelay: defaultRestartDelay, file: outFile,
				output: `  namepass = ["qlik_sense_*"]` + "\n"}.write(t, filepath.Join(dir, "telegraf.conf"), bin, pluginConf)
			tg := startTelegraf(t, bin, telegrafConf)

			// Three polls, the last two with a burn rate.
			var polls [][]telegraf.Metric
			require.Eventually(t, func() bool {
				polls = byTime(readMetrics(t, outFile), "qlik_sense_license")
				return len(polls) >= 3
			}, 30*time.Second, 100*time.Millisecond, "no three polls of qlik_sense_license")
			tg.stop(t)
			requireNoErrorLines(t, tg.log())

			for i, poll := range polls[:3] {
				// The answer of this poll: the fake changes only the used
				// minutes, which its analyzer_capacity point tells.
				answer := overview
				for _, m := range poll {
					if m.Tags()["license_type"] == "analyzer_capacity" {
						answer.AnalyzerTimeAccess.UsedMinutes = int(m.Fields()["used_minutes"].(float64))
					}
				}
				want := butlerLicensePoints(t, answer.JSON())
				require.Len(t, poll, len(want), "poll %d: one point per enabled type", i)
				for j, m := range poll {
					w := want[j]
					require.Equal(t, w.measurement, m.Name())
					require.Equal(t, w.tags, m.Tags(), "poll %d point %d: Butler's tags", i, j)
					got := m.Fields()
					for field, v := range w.fields {
						value, refused := influxValue(v)
						if refused {
							require.Equal(t, "token_user", w.tags["license_type"], "Butler's only undefined field")
							require.Equal(t, "used_tokens", field)
							require.InDelta(t, float64(overview.UserAccess.UsedTokens), got[field], 0, "ours is usedTokens")
						} else {
							require.Equal(t, value, got[field], "poll %d %s %s", i, w.tags["license_type"], field)
						}
						delete(got, field)
					}
					if w.tags["license_type"] == "analyzer_capacity" && i > 0 {
						require.Contains(t, got, "minutes_per_hour", "ours")
						require.Contains(t, got, "hours_left", "ours")
						delete(got, "minutes_per_hour")
						delete(got, "hours_left")
					}
					require.Empty(t, got, "poll %d %s: fields Butler does not write", i, w.tags["license_type"])
				}
			}

			servers := named(readMetrics(t, outFile), "qlik_sense_server_license")
			require.NotEmpty(t, servers)
			for _, m := range servers {
				require.Empty(t, m.Tags())
				require.Equal(t, butlerServerLicense(keyValidTo, m.Time()), m.Fields())
			}
		})
	}
}

// byTime groups a measurement's metrics by their time (a poll's points
// share it), in order.
func byTime(metrics []telegraf.Metric, name string) [][]telegraf.Metric {
	out := make([][]telegraf.Metric, 0, len(metrics))
	for _, m := range metrics {
		if m.Name() != name {
			continue
		}
		if n := len(out); n > 0 && out[n-1][0].Time().Equal(m.Time()) {
			out[n-1] = append(out[n-1], m)
			continue
		}
		out = append(out, []telegraf.Metric{m})
	}
	return out
}

func named(metrics []telegraf.Metric, name string) []telegraf.Metric {
	out := make([]telegraf.Metric, 0, len(metrics))
	for _, m := range metrics {
		if m.Name() == name {
			out = append(out, m)
		}
	}
	return out
}

// butlerLine is a datapoint as node-influx writes it without a schema: tags
// and fields sorted, a string quoted, anything else String(value) (so a
// number is a float, undefined is "undefined"), no time stamp.
func butlerLine(p butlerPoint) string {
	var line strings.Builder
	line.WriteString(p.measurement)
	for _, k := range slices.Sorted(maps.Keys(p.tags)) {
		line.WriteString("," + k + "=" + p.tags[k])
	}
	fields := make([]string, 0, len(p.fields))
	for _, k := range slices.Sorted(maps.Keys(p.fields)) {
		switch v := p.fields[k].(type) {
		case nil:
			fields = append(fields, k+"=undefined")
		case string:
			fields = append(fields, k+"="+strconv.Quote(v))
		default:
			fields = append(fields, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return line.String() + " " + strings.Join(fields, ",")
}

// TestLicenseInfluxDBAfterButler: a database Butler wrote its licence points
// to takes the plugin's (through the shipped InfluxDB example) without a
// field type conflict, and the README's InfluxQL for the Grafana panels
// finds them. Butler's token_user line, with used_tokens=undefined, is
// refused by InfluxDB, as the README says.
func TestLicenseInfluxDBAfterButler(t *testing.T) {
	bin := binDir(t)
	base := startInfluxDB(t)
	const db, eventRP = "qliksense_licences", "events_7d"
	createDatabase(t, base, db, eventRP)

	overview := qrstest.FullOverview()
	butler := butlerLicensePoints(t, overview.JSON())
	butler = append(butler, butlerPoint{"qlik_sense_server_license", map[string]string{},
		butlerServerLicense(keyValidTo, time.Now())})
	lines := make([]string, 0, len(butler))
	for _, p := range butler {
		lines = append(lines, butlerLine(p))
	}
	resp, err := http.Post(base+"/write?db="+db, "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), "used_tokens=undefined", "the line refused is token_user's")
	series, err := influxRun(t, base, db, `SELECT count("allocated_tokens") FROM "qlik_sense_license" GROUP BY "license_type"`)
	require.NoError(t, err)
	butlerTypes := map[string]bool{}
	for _, s := range series {
		butlerTypes[s.Tags["license_type"]] = true
	}
	require.Equal(t, map[string]bool{"token_login": true}, butlerTypes, "Butler's token_user line is lost")

	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, licenseRepository(t, overview))
	tg := startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-influxdb.conf"),
		exampleEnv(bin, pluginConf, "QSS_INFLUXDB_URL="+base, "QSS_INFLUXDB_DATABASE="+db, "QSS_INFLUXDB_EVENT_RP="+eventRP))
	require.Eventually(t, func() bool {
		rows := influxQuery(t, base, db, `SELECT count("hours_left") FROM "qlik_sense_license"`)[""]
		return len(rows) == 1 && influxNumber(rows[0][1]) >= 2
	}, 60*time.Second, 250*time.Millisecond, "the plugin's licence points never reached InfluxDB")
	require.Eventually(t, func() bool { // with the first gather's summaries (every 10 s)
		rows := influxQuery(t, base, db, `SELECT count("active_users") FROM "qliksense_users_license"`)[""]
		return len(rows) == 1 && influxNumber(rows[0][1]) >= 3
	}, 60*time.Second, 250*time.Millisecond, "no qliksense_users_license in InfluxDB")
	rows := influxQuery(t, base, db, `SELECT count("used_tokens") FROM "qlik_sense_license" WHERE "license_type" = 'token_user'`)[""]
	require.Len(t, rows, 1, "ours has token_user's used_tokens")

	for _, q := range readmeBlock(t, "```sql\n", "SELECT") {
		q = strings.NewReplacer("$timeFilter", "time > now() - 1h", "$__interval", "10s").Replace(q)
		series, err := influxRun(t, base, db, q)
		require.NoError(t, err, q)
		require.NotEmpty(t, series, "the README's query finds nothing: %s", q)
	}
	tg.stop(t)
	requireNoErrorLines(t, tg.log()) // no field type conflict
}

// readmeBlock returns the statements (each starting with start) of the
// plugin README's first code block opened by fence after "### Licences".
func readmeBlock(t *testing.T, fence, start string) []string {
	t.Helper()
	data, err := os.ReadFile(repoFile(t, "plugins/inputs/qliksense_sessions/README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(data), "### Licences")
	require.True(t, ok)
	_, block, ok := strings.Cut(section, fence)
	require.True(t, ok)
	block, _, _ = strings.Cut(block, "```")
	var out []string
	for _, part := range strings.Split(block, "\n"+start) {
		if part = strings.TrimSpace(strings.TrimPrefix(part, start)); part != "" {
			out = append(out, start+" "+strings.Join(strings.Fields(part), " "))
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestLicensePrometheusAlerts: the shipped Prometheus example serves the
// series the licence rules of examples/prometheus-alerts.yml name, as
// gauges, with the values the rules compare (TestPrometheusAlertRules runs
// the rules on them).
func TestLicensePrometheusAlerts(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	pluginConf := pluginConfig(t, dir, udpPort, licenseRepository(t, qrstest.FullOverview()))
	startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-prometheus.conf"), exampleEnv(bin, pluginConf, "QSS_PROMETHEUS_LISTEN="+listen))

	host, err := os.Hostname()
	require.NoError(t, err)
	var exp *exposition
	require.Eventually(t, func() bool {
		exp = scrape(t, "http://"+listen+"/metrics")
		_, ok := exp.seriesOK(`qlik_sense_license_hours_left{host="` + host + `",license_type="analyzer_capacity"}`)
		return ok
	}, 60*time.Second, 250*time.Millisecond, "no hours_left served")
	rules, err := os.ReadFile(repoFile(t, "examples/prometheus-alerts.yml"))
	require.NoError(t, err)
	// The series the rules name, not the comments.
	names := regexp.MustCompile(`qlik_sense_[a-z_]+`).FindAllString(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(string(rules), ""), -1)
	require.NotEmpty(t, names)
	for _, name := range names {
		require.Equal(t, "gauge", exp.types[name], "examples/prometheus-alerts.yml's licence rules name %s", name)
	}
	allocated, _ := exp.seriesOK(`qlik_sense_license_allocated{host="` + host + `",license_type="professional"}`)
	total, _ := exp.seriesOK(`qlik_sense_license_total{host="` + host + `",license_type="professional"}`)
	require.InDelta(t, 0.95, allocated/total, 1e-9)
	days, ok := exp.seriesOK(`qlik_sense_server_license_days_until_expiry{host="` + host + `"}`)
	require.True(t, ok)
	require.Greater(t, days, 365.0)
}

// seriesOK is a series' value, and whether it is served.
func (exp *exposition) seriesOK(name string) (float64, bool) {
	if exp == nil {
		return 0, false
	}
	v, ok := exp.series[name]
	return v, ok
}

//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

func startInfluxDB(t *testing.T) string {
	t.Helper()
	bin := serverBinary(t, "influxd", "influxdb")
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	conf := filepath.Join(dir, "influxdb.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  enabled = true
  bind-address = %q
  log-enabled = false
[monitor]
  store-enabled = false
`, freeTCPPort(t), filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpAddr)), 0o600))
	base := "http://" + httpAddr
	startServer(t, bin, func() bool {
		resp, err := http.Get(base + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	}, "-config", conf)
	return base
}

// influxSeries is one series of an InfluxQL answer.
type influxSeries struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]interface{}   `json:"values"`
}

// influxRun runs InfluxQL and returns every series of every statement, or
// the first error InfluxDB reported.
func influxRun(t *testing.T, base, db, q string) ([]influxSeries, error) {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"db": {db}, "q": {q}})
	require.NoError(t, err)
	defer resp.Body.Close()
	var answer struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string         `json:"error"`
			Series []influxSeries `json:"series"`
		} `json:"results"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	if answer.Error != "" {
		return nil, fmt.Errorf("%s: %s", resp.Status, answer.Error)
	}
	var series []influxSeries
	for _, r := range answer.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("%s", r.Error)
		}
		series = append(series, r.Series...)
	}
	return series, nil
}

// createDatabase creates the database db and its retention policy for
// the events, eventRP.
func createDatabase(t *testing.T, base, db, eventRP string) {
	t.Helper()
	influxQuery(t, base, "", "CREATE DATABASE "+db)
	influxQuery(t, base, "", "CREATE RETENTION POLICY "+eventRP+" ON "+db+" DURATION 7d REPLICATION 1")
}

// influxQuery runs InfluxQL that must succeed and returns the rows keyed by
// the series' server tag ("" for series without one).
func influxQuery(t *testing.T, base, db, q string) map[string][][]interface{} {
	t.Helper()
	series, err := influxRun(t, base, db, q)
	require.NoError(t, err, q)
	out := make(map[string][][]interface{})
	for _, s := range series {
		out[s.Tags["server"]] = s.Values
	}
	return out
}

func influxNumber(v interface{}) int { f, _ := v.(float64); return int(f) }

// requireInfluxHasReplay waits until InfluxDB's last summaries equal the
// replay's expectation and every event is in eventSource (a retention
// policy or "rp"."measurement" prefix).
func requireInfluxHasReplay(t *testing.T, base, db, eventRP string, expected replay.Expected) {
	t.Helper()
	require.Eventually(t, func() bool {
		rows := influxQuery(t, base, db, `SELECT last("active_users"), last("active_sessions") FROM "qliksense_users"`)[""]
		return len(rows) == 1 && influxNumber(rows[0][1]) == expected.ActiveUsers && influxNumber(rows[0][2]) == expected.ActiveSessions
	}, 60*time.Second, 250*time.Millisecond, "InfluxDB never showed the expected %d users", expected.ActiveUsers)

	perServer := influxQuery(t, base, db, `SELECT last("active_users"), last("active_sessions") FROM "qliksense_users_server" GROUP BY "server"`)
	for _, srv := range expected.Servers {
		rows := perServer[srv.Server]
		require.Len(t, rows, 1, srv.Server)
		require.Equal(t, srv.ActiveUsers, influxNumber(rows[0][1]), srv.Server)
		require.Equal(t, srv.ActiveSessions, influxNumber(rows[0][2]), srv.Server)
	}
	users := influxQuery(t, base, db, `SELECT last("users") FROM "qliksense_users"`)[""]
	require.Equal(t, butlerJSON(t, expected.Users), users[0][1])

	// Every event went to the events' retention policy, none to the default.
	require.Eventually(t, func() bool {
		rows := influxQuery(t, base, db, `SELECT count("user_id") FROM "`+eventRP+`"."qliksense_session_event"`)[""]
		return len(rows) == 1 && influxNumber(rows[0][1]) == expected.EventsSent
	}, 30*time.Second, 250*time.Millisecond, "not all %d events reached %s", expected.EventsSent, eventRP)
	require.Empty(t, influxQuery(t, base, db, `SELECT count("user_id") FROM "autogen"."qliksense_session_event"`))
	require.Empty(t, influxQuery(t, base, db, `SELECT count("active_users") FROM "`+eventRP+`"."qliksense_users"`))
}

// TestInfluxDB runs the shipped examples/telegraf-influxdb.conf against a
// real InfluxDB 1.x: the last summaries equal the replay's expectation, the
// events land in their own retention policy, and every query of the Grafana
// dashboard runs on what was written (the repository answers the licence
// endpoints too, for the licence panels).
func TestInfluxDB(t *testing.T) {
	bin := binDir(t)
	base := startInfluxDB(t)
	const db, eventRP = "qliksense_e2e", "events_7d"
	createDatabase(t, base, db, eventRP)

	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	// The repository names every other app, as the dashboard's apps panel
	// shows names where it has them.
	const seed = 21
	names, repository, repositoryAPI := everyOtherAppNamed(t, seed)
	repository += serveLicences(t, repositoryAPI, qrstest.FullOverview())
	pluginConf := pluginConfig(t, dir, udpPort, repository)
	tg := startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-influxdb.conf"),
		exampleEnv(bin, pluginConf, "QSS_INFLUXDB_URL="+base, "QSS_INFLUXDB_DATABASE="+db, "QSS_INFLUXDB_EVENT_RP="+eventRP))
	// Names before the first app summary: the plugin logs its first
	// answer as it takes the names in, long before the replay's first
	// datagram can make a summary.
	repositoryAPI.WaitRequests(t, 1)
	tg.waitForLog(t, "App names: ", 30*time.Second)
	expected := replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort),
		"-users", "80", "-directories", "3", "-servers", "3", "-events", "5000", "-rate", "5000", "-seed", strconv.Itoa(seed))
	require.NotZero(t, expected.ActiveUsers)
	requireInfluxHasReplay(t, base, db, eventRP, expected)

	// The dashboard's queries, as Grafana would send them over the last hour
	// with the events' retention policy picked: InfluxDB accepts each, and
	// each finds data (the rates need two gathers, so may be empty yet).
	require.Eventually(t, func() bool {
		rows := influxQuery(t, base, db, `SELECT count("datagrams_received") FROM "qliksense_sessions_internal"`)[""]
		return len(rows) == 1 && influxNumber(rows[0][1]) >= 1
	}, 30*time.Second, 250*time.Millisecond, "no intake counters in InfluxDB")
	// hours_left needs two polls with used minutes rising.
	require.Eventually(t, func() bool {
		rows := influxQuery(t, base, db, `SELECT count("hours_left") FROM "qlik_sense_license"`)[""]
		return len(rows) == 1 && influxNumber(rows[0][1]) >= 1
	}, 30*time.Second, 250*time.Millisecond, "no analyzer capacity burn in InfluxDB")
	vars := map[string]string{"$timeFilter": "time > now() - 1h", "$__interval": "10s", "$event_rp": eventRP}
	queries, _ := dashboardQueries(t)
	shown := map[string][2]int{} // the apps panel: name or id -> users, connections
	for _, dq := range queries {
		q := dq.query
		if dq.timeFrom != "" {
			q = strings.ReplaceAll(q, "$timeFilter", "time > now() - "+dq.timeFrom)
		}
		for name, value := range vars {
			q = strings.ReplaceAll(q, name, value)
		}
		require.NotContains(t, q, "$", "a dashboard variable this test does not know: %s", dq.query)
		series, err := influxRun(t, base, db, q)
		require.NoError(t, err, "panel %q: %s", dq.panel, q)
		if !strings.Contains(q, "derivative(") {
			require.NotEmpty(t, series, "panel %q finds no data: %s", dq.panel, q)
		}
		if dq.panel == "Users per app now" {
			for _, s := range series {
				name := s.Tags["app_name"]
				if name == "" {
					name = s.Tags["app_id"]
				}
				require.Len(t, s.Values, 1, "one row per app: %v", s)
				shown[name] = [2]int{influxNumber(s.Values[0][1]), influxNumber(s.Values[0][2])}
			}
		}
	}

	// The apps panel shows each app in use by its name, else its id, with
	// the model's users and connections; apps whose last user left, 0.
	want := map[string][2]int{}
	named := 0
	for _, a := range expected.Apps {
		name := a.App
		if n, ok := names[a.App]; ok {
			name = n
			named++
		}
		want[name] = [2]int{a.ActiveUsers, a.ActiveConnections}
	}
	require.NotZero(t, named, "apps in use with names")
	require.Less(t, named, len(want), "apps in use without")
	for name, got := range shown {
		if _, ok := want[name]; !ok {
			require.Equal(t, [2]int{0, 0}, got, "app %s is not in use", name)
			delete(shown, name)
		}
	}
	require.Equal(t, want, shown, "users and connections per app, by name or id")
}

// influxV2Variant is the shipped InfluxDB example switched to InfluxDB 2.x the
// way its comment tells users to: the [[outputs.influxdb]] blocks out, the
// commented [[outputs.influxdb_v2]] blocks in.
func influxV2Variant(t *testing.T, shipped string) string {
	t.Helper()
	lines := strings.Split(shipped, "\n")
	out := make([]string, 0, len(lines))
	v1Blocks, v2Blocks := 0, 0
	inV1, inV2 := false, false
	for _, line := range lines {
		switch {
		case line == "[[outputs.influxdb]]":
			inV1 = true
			v1Blocks++
			continue
		case inV1 && strings.HasPrefix(line, "  "):
			continue
		case line == "# [[outputs.influxdb_v2]]":
			inV2 = true
			v2Blocks++
		}
		inV1 = false
		if inV2 {
			line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
		}
		out = append(out, line)
	}
	require.Equal(t, 2, v1Blocks, "the example's InfluxDB 1.x outputs")
	require.Equal(t, 2, v2Blocks, "the example's commented InfluxDB 2.x outputs")
	return strings.Join(out, "\n")
}

// v2Shim serves InfluxDB 2's write API in front of InfluxDB 1.x, as
// InfluxDB 1.8+ does itself: bucket "db/rp" (or "db"), token checked.
type v2Shim struct {
	base, token, org string

	mu     sync.Mutex
	writes map[string]int // bucket -> accepted write requests
}

func (s *v2Shim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/api/v2/write":
		http.Error(w, `{"code":"not found","message":"path not found"}`, http.StatusNotFound)
		return
	case r.Header.Get("Authorization") != "Token "+s.token:
		http.Error(w, `{"code":"unauthorized","message":"unauthorized access"}`, http.StatusUnauthorized)
		return
	case q.Get("org") != s.org:
		http.Error(w, `{"code":"not found","message":"organization not found"}`, http.StatusNotFound)
		return
	}
	db, rp, _ := strings.Cut(q.Get("bucket"), "/")
	v1 := url.Values{"db": {db}}
	if rp != "" {
		v1.Set("rp", rp)
	}
	if p := q.Get("precision"); p != "" {
		v1.Set("precision", p)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := http.NewRequest(http.MethodPost, s.base+"/write?"+v1.Encode(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set("Content-Encoding", r.Header.Get("Content-Encoding"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		s.mu.Lock()
		s.writes[q.Get("bucket")]++
		s.mu.Unlock()
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body) //nolint:errcheck // the client sees a short answer at worst
}

// TestInfluxDBv2 runs the example's [[outputs.influxdb_v2]] variant. Debian
// ships InfluxDB 1.6 only, which lacks the 2.x write API; a shim serves it
// in front of the real server the way InfluxDB 1.8+ does (bucket
// "database/retention_policy"), so the data lands in and is read back from
// real storage, and the token, organization and buckets Telegraf sends are
// checked. Strict environment handling: Telegraf's default from v1.38 on.
func TestInfluxDBv2(t *testing.T) {
	bin := binDir(t)
	base := startInfluxDB(t)
	const db, eventRP = "qliksense_v2", "events_7d"
	createDatabase(t, base, db, eventRP)
	shim := &v2Shim{base: base, token: "e2e-token", org: "e2e-org", writes: make(map[string]int)}
	front := httptest.NewServer(shim)
	t.Cleanup(front.Close)

	dir := t.TempDir()
	conf := writeVariant(t, repoFile(t, "examples/telegraf-influxdb.conf"), filepath.Join(dir, "telegraf-influxdb-v2.conf"),
		func(shipped string) string { return influxV2Variant(t, shipped) })

	udpPort := freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, "")
	startTelegrafArgs(t, bin, conf, exampleEnv(bin, pluginConf, "QSS_INFLUXDB_URL="+front.URL,
		"QSS_INFLUXDB_TOKEN="+shim.token, "QSS_INFLUXDB_ORG="+shim.org,
		"QSS_INFLUXDB_BUCKET="+db, "QSS_INFLUXDB_EVENT_BUCKET="+db+"/"+eventRP), "--strict-env-handling")
	expected := replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort),
		"-users", "40", "-directories", "2", "-servers", "2", "-events", "2000", "-rate", "4000", "-seed", "5")
	require.NotZero(t, expected.ActiveUsers)
	requireInfluxHasReplay(t, base, db, eventRP, expected)

	// The shim counts a write once InfluxDB has answered it, which may be
	// just after a query already sees its points.
	require.Eventually(t, func() bool {
		shim.mu.Lock()
		defer shim.mu.Unlock()
		return shim.writes[db] > 0 && shim.writes[db+"/"+eventRP] > 0
	}, 10*time.Second, 10*time.Millisecond, "writes reached both buckets")
	shim.mu.Lock()
	defer shim.mu.Unlock()
	require.NotZero(t, shim.writes[db], "summaries written to bucket %s", db)
	require.NotZero(t, shim.writes[db+"/"+eventRP], "events written to bucket %s/%s", db, eventRP)
	require.Len(t, shim.writes, 2, "writes went to other buckets: %v", shim.writes)
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

// influxQuery runs InfluxQL and returns the rows of the first series of the
// first statement, keyed by the series' tags.
func influxQuery(t *testing.T, base, db, q string) map[string][][]interface{} {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"db": {db}, "q": {q}})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var answer struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]interface{}   `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	out := make(map[string][][]interface{})
	for _, r := range answer.Results {
		require.Empty(t, r.Error, q)
		for _, s := range r.Series {
			out[s.Tags["server"]] = s.Values
		}
	}
	return out
}

// TestInfluxDB runs the shipped examples/telegraf-influxdb.conf against a
// real InfluxDB 1.x: the last summaries equal the replay's expectation, and
// the events land in their own retention policy.
func TestInfluxDB(t *testing.T) {
	bin := binDir(t)
	base := startInfluxDB(t)
	const db, eventRP = "qliksense_e2e", "events_7d"
	influxQuery(t, base, "", "CREATE DATABASE "+db)
	influxQuery(t, base, "", "CREATE RETENTION POLICY "+eventRP+" ON "+db+" DURATION 7d REPLICATION 1")

	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, "")
	startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-influxdb.conf"),
		exampleEnv(bin, pluginConf, "QSS_INFLUXDB_URL="+base, "QSS_INFLUXDB_DATABASE="+db, "QSS_INFLUXDB_EVENT_RP="+eventRP))
	expected := replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort),
		"-users", "80", "-directories", "3", "-servers", "3", "-events", "5000", "-rate", "5000", "-seed", "21")
	require.NotZero(t, expected.ActiveUsers)

	num := func(v interface{}) int { f, _ := v.(float64); return int(f) }
	require.Eventually(t, func() bool {
		rows := influxQuery(t, base, db, `SELECT last("active_users"), last("active_sessions") FROM "qliksense_users"`)[""]
		return len(rows) == 1 && num(rows[0][1]) == expected.ActiveUsers && num(rows[0][2]) == expected.ActiveSessions
	}, 60*time.Second, 250*time.Millisecond, "InfluxDB never showed the expected %d users", expected.ActiveUsers)

	perServer := influxQuery(t, base, db, `SELECT last("active_users"), last("active_sessions") FROM "qliksense_users_server" GROUP BY "server"`)
	for _, srv := range expected.Servers {
		rows := perServer[srv.Server]
		require.Len(t, rows, 1, srv.Server)
		require.Equal(t, srv.ActiveUsers, num(rows[0][1]), srv.Server)
		require.Equal(t, srv.ActiveSessions, num(rows[0][2]), srv.Server)
	}
	users := influxQuery(t, base, db, `SELECT last("users") FROM "qliksense_users"`)[""]
	require.Equal(t, butlerJSON(t, expected.Users), users[0][1])

	// Every event went to the events' retention policy, none to the default.
	require.Eventually(t, func() bool {
		rows := influxQuery(t, base, db, `SELECT count("user_id") FROM "`+eventRP+`"."qliksense_session_event"`)[""]
		return len(rows) == 1 && num(rows[0][1]) == expected.EventsSent
	}, 30*time.Second, 250*time.Millisecond, "not all %d events reached %s", expected.EventsSent, eventRP)
	require.Empty(t, influxQuery(t, base, db, `SELECT count("user_id") FROM "autogen"."qliksense_session_event"`))
	require.Empty(t, influxQuery(t, base, db, `SELECT count("active_users") FROM "`+eventRP+`"."qliksense_users"`))
}

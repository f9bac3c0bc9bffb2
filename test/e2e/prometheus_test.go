//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scrape reads the Prometheus text exposition: series (name with labels,
// as printed) to value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	series := make(map[string]float64)
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		value, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		series[line[:i]] = value
	}
	return series
}

// TestPrometheus runs the shipped examples/telegraf-prometheus.conf and
// scrapes its endpoint: the gauges carry the replay's expected counts.
func TestPrometheus(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	pluginConf := pluginConfig(t, dir, udpPort, "")
	startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-prometheus.conf"),
		exampleEnv(bin, pluginConf, "QSS_PROMETHEUS_LISTEN="+listen))
	expected := replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort),
		"-users", "50", "-directories", "2", "-servers", "2", "-events", "3000", "-rate", "5000", "-seed", "33")
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
	var series map[string]float64
	require.Eventually(t, func() bool {
		series = scrape(t, "http://"+listen+"/metrics")
		for name, value := range want {
			if got, ok := series[name]; !ok || got != value {
				return false
			}
		}
		return true
	}, 60*time.Second, 250*time.Millisecond, "the endpoint never served the expected gauges")

	// The intake counters come with the first gather (every 10 s).
	require.Eventually(t, func() bool {
		series = scrape(t, "http://"+listen+"/metrics")
		return series[`qliksense_sessions_internal_datagrams_received{host="`+host+`"}`] == float64(expected.EventsSent)
	}, 30*time.Second, 250*time.Millisecond, "the intake counters never showed %d datagrams", expected.EventsSent)
	require.Equal(t, float64(0), series[`qliksense_sessions_internal_malformed{host="`+host+`"}`])
	for name := range series {
		require.NotContains(t, name, "qliksense_session_event", "events are no gauges")
		require.NotContains(t, name, "users=", "the users list must not become a label")
	}
}

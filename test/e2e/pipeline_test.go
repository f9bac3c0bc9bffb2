//go:build e2e

package e2e

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTelegrafPipeline replays 200,000 events at 20,000 events/s through the
// real Telegraf with the plugin under execd, and requires the last summary to
// be exactly the replay tool's expected active set, with no datagram lost.
func TestTelegrafPipeline(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, `  exclude_users = ['INTERNAL\sa_*']`)
	outFile := filepath.Join(dir, "metrics.out")
	telegrafConf := fileTelegraf{interval: "2s", flushInterval: "500ms", batchSize: 20000, bufferLimit: 1000000,
		poll: "2s", restartDelay: "1s", file: outFile}.write(t, filepath.Join(dir, "telegraf.conf"), bin, pluginConf)

	tg := startTelegraf(t, bin, telegrafConf)
	started := time.Now()
	expected := replayTraffic(t, bin,
		"-addr", "127.0.0.1:"+strconv.Itoa(udpPort),
		"-users", "3000", "-directories", "3", "-servers", "4",
		"-events", "200000", "-rate", "20000", "-seed", "42",
		"-exclude", `INTERNAL\sa_repository,INTERNAL\sa_scheduler`)
	require.Equal(t, 200000, expected.EventsSent)
	require.NotZero(t, expected.ActiveUsers, "a replay that ends with nobody active proves little")
	t.Logf("replayed %d events in %s; expecting %d users, %d sessions on %d servers",
		expected.EventsSent, time.Since(started).Round(time.Millisecond), expected.ActiveUsers, expected.ActiveSessions, len(expected.Servers))

	var set activeSet
	require.Eventually(t, func() bool {
		set = lastActiveSet(t, readMetrics(t, outFile))
		ok, _ := set.matches(expected)
		return ok && set.intake != nil && set.intake["datagrams_received"] == int64(expected.EventsSent)
	}, 60*time.Second, 250*time.Millisecond, "last summary never matched the replay's expectation")

	// Nothing lost or refused on the way: every datagram was an event, every
	// event reached the output.
	require.Equal(t, int64(0), set.intake["malformed"])
	accepted := set.intake["events_accepted"].(int64)
	excluded := set.intake["events_excluded"].(int64)
	require.Equal(t, int64(expected.EventsSent), accepted+excluded+set.intake["events_ignored"].(int64))
	require.NotZero(t, excluded, "the replay's service accounts were not excluded")
	require.Eventually(t, func() bool {
		return lastActiveSet(t, readMetrics(t, outFile)).events == int(accepted)
	}, 30*time.Second, 250*time.Millisecond, "not every accepted event reached the output")

	tg.stop(t)
	requireNoErrorLines(t, tg.log())
}

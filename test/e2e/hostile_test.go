//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

// Issue 21: what a hostile sender, a hostile proxy or a stray file can make
// the real binary do.

// lastMetric is the last metric named name that p emitted, nil if none.
func lastMetric(p *plugin, name string) telegraf.Metric {
	metrics := p.snapshot()
	for i := len(metrics) - 1; i >= 0; i-- {
		if metrics[i].Name() == name {
			return metrics[i]
		}
	}
	return nil
}

// intField is an int field of m, -1 if m has none.
func intField(m telegraf.Metric, name string) int64 {
	if m == nil {
		return -1
	}
	v, ok := m.GetField(name)
	if !ok {
		return -1
	}
	n, ok := v.(int64)
	if !ok {
		return -1
	}
	return n
}

// rssBytes is the resident set size of a process, from /proc.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// TestProxyAnswerBoundedByMaxUsers: a session API answering 300,000
// sessions of distinct users with max_users = 1000 makes the plugin track
// and report at most 1000 users, its own and the virtual proxy's summary
// alike; the refused sessions count in api_sessions_refused_max_users, not
// in events_refused_max_users (which counts events); and the memory stays
// bounded, poll after poll.
func TestProxyAnswerBoundedByMaxUsers(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc for the resident set size")
	}
	bin := binDir(t)
	const sessions, maxUsers = 300_000, 1000
	var answer strings.Builder
	answer.WriteByte('[')
	for i := range sessions {
		if i > 0 {
			answer.WriteByte(',')
		}
		fmt.Fprintf(&answer, `{"UserDirectory":"LAB","UserId":"user%d","SessionId":"%d"}`, i, i)
	}
	answer.WriteByte(']')
	server := qpstest.NewServer(t, map[string]string{"": answer.String()})
	conf := pluginConfig(t, t.TempDir(), freeUDPPort(t), fmt.Sprintf(`  max_users = %d
  [[inputs.qliksense_sessions.proxy]]
    url = %q
    server = "SENSE1"
    interval = "1s"
    tls_cert = %q
    tls_key = %q
    tls_ca = %q
`, maxUsers, server.URL, server.ClientCertFile, server.ClientKeyFile, server.CAFile))
	p := startPluginPoll(t, bin, conf, "500ms")

	var maxRSS int64
	require.Eventually(t, func() bool {
		maxRSS = max(maxRSS, rssBytes(t, p.cmd.Process.Pid))
		return intField(lastMetric(p, "qliksense_sessions_internal"), "proxy_polls") >= 4
	}, 60*time.Second, 50*time.Millisecond, "the plugin did not poll the proxy 4 times")

	internal := lastMetric(p, "qliksense_sessions_internal")
	t.Logf("max RSS %d MiB; tracked_users %d, events_refused_max_users %d, api_sessions_refused_max_users %d; active_users %d, of the virtual proxy %d",
		maxRSS>>20, intField(internal, "tracked_users"), intField(internal, "events_refused_max_users"), intField(internal, "api_sessions_refused_max_users"),
		intField(lastMetric(p, "qliksense_users"), "active_users"), intField(lastMetric(p, "qliksense_users_virtual_proxy"), "active_users"))
	require.Equal(t, int64(maxUsers), intField(internal, "tracked_users"))
	require.Equal(t, int64(0), intField(internal, "events_refused_max_users"), "API sessions are no events")
	refused := intField(internal, "api_sessions_refused_max_users")
	require.Positive(t, refused, "api_sessions_refused_max_users")
	require.Zero(t, refused%(sessions-maxUsers), "each poll refuses the %d sessions beyond the limit: %d", sessions-maxUsers, refused)
	require.Equal(t, int64(maxUsers), intField(lastMetric(p, "qliksense_users"), "active_users"))
	require.Equal(t, int64(maxUsers), intField(lastMetric(p, "qliksense_users_virtual_proxy"), "active_users"))
	// The answer itself is 23 MB; what the plugin keeps of it is 1000 users.
	require.Less(t, maxRSS, int64(160<<20), "resident set size (498 MiB before issue 21)")
	require.NotContains(t, p.log(), "E! ")
}

//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
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
	server := qpstest.NewServer(t, map[string]string{"": qpstest.ManySessions(sessions, 1, "LAB", "user")})
	conf := pluginConfig(t, t.TempDir(), freeUDPPort(t), fmt.Sprintf(`  max_users = %d
  [[inputs.qliksense_sessions.proxy]]
    server = "SENSE1"
    interval = "1s"
%s`, maxUsers, server.ConfigKeys()))
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
	// The answer itself is 23 MB; what the plugin keeps of it is 1000 users
	// (92 MiB at the peak of a poll; 498 MiB before issue 21).
	require.Less(t, maxRSS, int64(160<<20), "resident set size")
	require.NotContains(t, p.log(), "E! ")
}

// rawPlugin is the execd binary with its stdout kept line by line, as a
// reader of the plugin's output (or of outputs.file) would read it.
type rawPlugin struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	processLog
}

// startRawPlugin runs the plugin on configFile with a gather every
// pollInterval and waits until it listens; it is killed when the test ends.
func startRawPlugin(t *testing.T, bin, configFile, pollInterval string) *rawPlugin {
	t.Helper()
	p := &rawPlugin{}
	p.cmd, _, _ = runPlugin(t, bin, configFile, pollInterval, &p.processLog, func(stdout io.Reader) {
		scanner := bufio.NewScanner(stdout)
		scanner.Buffer(make([]byte, 1<<20), 64<<20)
		for scanner.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, scanner.Text())
			p.mu.Unlock()
		}
	})
	return p
}

func (p *rawPlugin) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// TestNoLineOver1MiB: users whose names are all quotes and backslashes,
// the worst case of line protocol's escaping, still give no summary line
// over 1 MiB at the largest users_max_bytes, nor at the default.
func TestNoLineOver1MiB(t *testing.T) {
	bin := binDir(t)
	for _, maxBytes := range []string{"", `  users_max_bytes = "1000KiB"`} {
		port := freeUDPPort(t)
		conf := pluginConfig(t, t.TempDir(), port, "  emit_events = false\n"+maxBytes)
		p := startRawPlugin(t, bin, conf, "500ms")
		conn := dialPlugin(t, port)
		// Names all of quotes, the worst case: JSON makes each quote 2 bytes
		// and line protocol 4. Eight such users fill the default's 512 KiB
		// of JSON to its last 15 bytes, sixteen the largest setting's.
		const users = 16
		for i := range users {
			id := strings.Repeat(`"`, 32_760+i)
			sendDatagrams(t, conn, fmt.Sprintf(`/qseow-proxy-session/;SENSE1;Start session;";%s;AppAccess;/hub/;m`, id))
		}
		var summaries int
		require.Eventually(t, func() bool {
			summaries = 0
			for _, line := range p.snapshot() {
				if strings.HasPrefix(line, "qliksense_users,trigger=interval ") && strings.Contains(line, "active_users=16i") {
					summaries++
				}
			}
			return summaries > 0
		}, 30*time.Second, 50*time.Millisecond, "no summary of the %d users (%s)", users, maxBytes)
		longest := 0
		for _, line := range p.snapshot() {
			longest = max(longest, len(line)+1)
			require.LessOrEqual(t, len(line)+1, 1<<20, "a line of %d bytes with its newline (%s): %.120s", len(line)+1, maxBytes, line)
		}
		t.Logf("%s: longest line %d bytes", maxBytes, longest)
	}
}

// TestEveryMetricIsOneLine: a message with CR, LF and tabs (event_message
// = true) stays within its metric's line of the plugin's stdout, so that a
// reader line by line cannot be made to see a forged metric.
func TestEveryMetricIsOneLine(t *testing.T) {
	bin := binDir(t)
	port := freeUDPPort(t)
	conf := pluginConfig(t, t.TempDir(), port, "  event_message = true")
	p := startRawPlugin(t, bin, conf, "500ms")
	conn := dialPlugin(t, port)
	sendDatagrams(t, conn, "/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;"+
		"hello\nqliksense_users,trigger=x active_users=999i\r\nqliksense_users,trigger=y active_users=998i\rtab\there\r\n\t end")

	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	var message string
	require.Eventually(t, func() bool {
		for _, line := range p.snapshot() {
			if strings.HasPrefix(line, "qliksense_session_event,") {
				m, err := parser.ParseLine(line)
				require.NoError(t, err, line)
				value, _ := m.GetField("message")
				message, _ = value.(string)
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "no event")
	require.Eventually(t, func() bool { return intField(lastMetricOfLines(t, p.snapshot()), "events_accepted") == 1 },
		10*time.Second, 20*time.Millisecond, "no gather after the event")
	for _, line := range p.snapshot() {
		_, err := parser.ParseLine(line)
		require.NoError(t, err, "every line is one whole metric: %q", line)
		forged := strings.HasPrefix(line, "qliksense_users,trigger=x") || strings.HasPrefix(line, "qliksense_users,trigger=y")
		require.False(t, forged, "a forged metric: %q", line)
	}
	require.Equal(t, "hello qliksense_users,trigger=x active_users=999i qliksense_users,trigger=y active_users=998i tab here  end", message)
}

// lastMetricOfLines is the last qliksense_sessions_internal of lines.
func lastMetricOfLines(t *testing.T, lines []string) telegraf.Metric {
	t.Helper()
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "qliksense_sessions_internal ") {
			m, err := parser.ParseLine(lines[i])
			require.NoError(t, err)
			return m
		}
	}
	return nil
}

// TestHelpExitsZero: -h prints the usage and exits 0, with no error line.
func TestHelpExitsZero(t *testing.T) {
	bin := binDir(t)
	for _, flag := range []string{"-h", "-help"} {
		var stdout, stderr strings.Builder
		cmd := exec.Command(filepath.Join(bin, "qliksense_sessions"), flag)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "%s: %s", flag, stderr.String())
		require.Contains(t, stderr.String(), "-config", flag)
		require.NotContains(t, stderr.String(), "E! ", flag)
	}
}

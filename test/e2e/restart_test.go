//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

// plugin is the execd binary run on its own, as inputs.execd runs it: stdin
// kept open, metrics read from stdout.
type plugin struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	mu      sync.Mutex
	metrics []telegraf.Metric
	processLog
	done chan struct{}
}

// processLog is a plugin process's stderr, kept as it comes.
type processLog struct {
	logMu  sync.Mutex
	stderr strings.Builder
}

// read keeps r's lines until it ends.
func (l *processLog) read(r io.Reader) {
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		l.logMu.Lock()
		l.stderr.WriteString(scanner.Text() + "\n")
		l.logMu.Unlock()
	}
}

func (l *processLog) log() string {
	l.logMu.Lock()
	defer l.logMu.Unlock()
	return l.stderr.String()
}

// waitListening waits until the plugin says it listens.
func (l *processLog) waitListening(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(l.log(), "Listening for log4net datagrams") },
		30*time.Second, 10*time.Millisecond, "the plugin did not start")
}

func startPlugin(t *testing.T, bin, configFile string) *plugin {
	t.Helper()
	return startPluginPoll(t, bin, configFile, "1h")
}

// startPluginPoll is startPlugin with a gather every pollInterval.
func startPluginPoll(t *testing.T, bin, configFile, pollInterval string) *plugin {
	t.Helper()
	p := &plugin{}
	p.cmd, p.stdin, p.done = runPlugin(t, bin, configFile, pollInterval, &p.processLog, func(stdout io.Reader) {
		scanMetrics(stdout, func(m telegraf.Metric) {
			p.mu.Lock()
			p.metrics = append(p.metrics, m)
			p.mu.Unlock()
		})
	})
	return p
}

// runPlugin runs the plugin on configFile with a gather every
// pollInterval, keeps its stderr in log and hands its stdout to consume,
// and waits until it listens; done closes when consume has returned and
// the process has ended. The process is killed when the test ends.
func runPlugin(t *testing.T, bin, configFile, pollInterval string, log *processLog, consume func(stdout io.Reader)) (*exec.Cmd, io.WriteCloser, chan struct{}) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "qliksense_sessions"), "-config", configFile, "-poll_interval", pollInterval)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill() //nolint:errcheck // may be gone already
		<-done
		if t.Failed() {
			t.Logf("plugin stderr:\n%s", log.log())
		}
	})
	go log.read(stderr)
	go func() {
		defer close(done)
		consume(stdout)
		cmd.Wait() //nolint:errcheck // killed on purpose
	}()
	log.waitListening(t)
	return cmd, stdin, done
}

func (p *plugin) snapshot() []telegraf.Metric {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]telegraf.Metric(nil), p.metrics...)
}

func (p *plugin) waitForFirstSummary(t *testing.T) activeSet {
	t.Helper()
	var set activeSet
	require.Eventually(t, func() bool {
		var ok bool
		set, ok = firstSummary(t, p.snapshot())
		return ok
	}, 10*time.Second, 10*time.Millisecond, "no summary after the start")
	return set
}

// firstSummary is the site summary and the server summaries that share its
// timestamp, from the first summary the plugin emitted.
func firstSummary(t *testing.T, metrics []telegraf.Metric) (activeSet, bool) {
	set := activeSet{servers: make(map[string]replay.ServerExpected)}
	var at time.Time
	for _, m := range metrics {
		switch {
		case m.Name() == "qliksense_users" && at.IsZero():
			at = m.Time()
			set.site = summaryOf(t, m)
		case m.Name() == "qliksense_users_server" && !at.IsZero() && m.Time().Equal(at):
			s := summaryOf(t, m)
			s.Server = m.Tags()["server"]
			set.servers[s.Server] = s
		}
	}
	return set, !at.IsZero()
}

// TestRestartAfterSIGKILL: with a state file, a plugin killed with SIGKILL
// starts again with the sessions it had (at most one save interval lost;
// here we wait for the save, so nothing is).
func TestRestartAfterSIGKILL(t *testing.T) {
	bin := binDir(t)
	port, stateFile, conf := savingConfig(t, "")

	first := startPlugin(t, bin, conf)
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer conn.Close()
	// 300 users on 3 servers; every fourth user logs out again, every fifth
	// has a second browser.
	want := replay.Expected{}
	perServer := map[string]*replay.ServerExpected{}
	for i := 0; i < 300; i++ {
		server := fmt.Sprintf("SENSE%d", i%3+1)
		user := fmt.Sprintf("user%03d", i)
		send := func(cmd string) {
			_, err := fmt.Fprintf(conn, "/qseow-proxy-session/;%s;%s;LAB;%s;AppAccess;/hub/;%s for user 'LAB\\%s'", server, cmd, user, cmd, user)
			require.NoError(t, err)
		}
		send("Start session")
		switch {
		case i%4 == 0:
			send("Stop session")
			continue
		case i%5 == 0:
			send("Start session")
			want.ActiveSessions++
			addSessions(perServer, server, 1)
		}
		want.ActiveUsers++
		want.ActiveSessions++
		want.Users = append(want.Users, `LAB\`+user)
		addSessions(perServer, server, 1)
		perServer[server].ActiveUsers++
		perServer[server].Users = append(perServer[server].Users, `LAB\`+user)
	}
	for _, name := range []string{"SENSE1", "SENSE2", "SENSE3"} {
		want.Servers = append(want.Servers, *perServer[name])
	}

	require.Eventually(t, func() bool {
		ok, _ := lastActiveSet(t, first.snapshot()).matches(want)
		return ok
	}, 30*time.Second, 20*time.Millisecond, "the plugin never showed the traffic's active set")
	// Wait for the save, then kill without a chance to save again.
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(stateFile)
		if err != nil {
			return false
		}
		var f struct{ Sessions []struct{ Sessions int } }
		if json.Unmarshal(data, &f) != nil {
			return false
		}
		total := 0
		for _, s := range f.Sessions {
			total += s.Sessions
		}
		return total == want.ActiveSessions
	}, 10*time.Second, 20*time.Millisecond, "the state file never held the active sessions")
	require.NoError(t, first.cmd.Process.Kill())
	<-first.done

	second := startPlugin(t, bin, conf)
	set := second.waitForFirstSummary(t)
	ok, why := set.matches(want)
	require.True(t, ok, "first summary after the restart differs from before the kill: %s", why)
}

func addSessions(perServer map[string]*replay.ServerExpected, server string, n int) {
	if perServer[server] == nil {
		perServer[server] = &replay.ServerExpected{Server: server, Users: make([]string, 0)}
	}
	perServer[server].ActiveSessions += n
}

// TestFirstSummaryFromProxyAPI: with a proxy block, the real binary's first
// summary after a start already holds the proxy's sessions, with no UDP
// traffic at all.
func TestFirstSummaryFromProxyAPI(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	server := qpstest.NewServer(t, map[string]string{
		"": `[{"UserDirectory":"LAB","UserId":"anna","SessionId":"1"},{"UserDirectory":"LAB","UserId":"anna","SessionId":"2"},` +
			`{"UserDirectory":"CORP","UserId":"bob","SessionId":"3"}]`,
		"hdr": `[{"UserDirectory":"CORP","UserId":"carl","SessionId":"4"}]`,
	})
	conf := pluginConfig(t, dir, freeUDPPort(t), `
  [[inputs.qliksense_sessions.proxy]]
    server = "SENSE1"
    virtual_proxies = ["", "hdr"]
`+server.ConfigKeys())

	p := startPlugin(t, bin, conf)
	set := p.waitForFirstSummary(t)
	users := []string{`CORP\bob`, `CORP\carl`, `LAB\anna`}
	ok, why := set.matches(replay.Expected{
		ActiveUsers: 3, ActiveSessions: 4, Users: users,
		Servers: []replay.ServerExpected{{Server: "SENSE1", ActiveUsers: 3, ActiveSessions: 4, Users: users}},
	})
	require.True(t, ok, why)
	require.NotContains(t, p.log(), "E! ")
}

// savingConfig is the configuration of a plugin that saves its state every
// second (the shortest state_save_interval) to state.json in a new folder,
// with extra keys: the UDP port, the state file and the configuration
// file (both in the folder).
func savingConfig(t *testing.T, extra string) (port int, stateFile, conf string) {
	t.Helper()
	dir := t.TempDir()
	port, stateFile = freeUDPPort(t), filepath.Join(dir, "state.json")
	return port, stateFile, pluginConfig(t, dir, port, fmt.Sprintf("  state_file = %q\n  state_save_interval = \"1s\"\n%s", stateFile, extra))
}

//go:build e2e

// Package e2e runs the real binaries: Telegraf v1.37.2 with the plugin under
// inputs.execd, fed by the replay tool over loopback UDP. `make test` builds
// the binaries into ./bin and runs these tests with -tags e2e.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/loopback"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

// binDir holds telegraf, qliksense_sessions and qliksense_replay.
func binDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("QSS_BIN_DIR")
	if dir == "" {
		dir = "../../bin"
	}
	dir, err := filepath.Abs(dir)
	require.NoError(t, err)
	for _, name := range []string{"telegraf", "qliksense_sessions", "qliksense_replay"} {
		_, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, "missing %s in %s: run `make build bin/telegraf` (or `make test`), or set QSS_BIN_DIR", name, dir)
	}
	return dir
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	port, err := loopback.FreeUDPPort()
	require.NoError(t, err)
	return port
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dialPlugin is a UDP socket to the plugin at 127.0.0.1:port, closed when
// the test ends.
func dialPlugin(t *testing.T, port int) net.Conn {
	t.Helper()
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// sendDatagrams sends each payload as one datagram, in order.
func sendDatagrams(t *testing.T, conn net.Conn, payloads ...string) {
	t.Helper()
	for _, payload := range payloads {
		_, err := fmt.Fprint(conn, payload)
		require.NoError(t, err)
	}
}

// pluginConfig writes the plugin's own config (what the execd binary reads).
func pluginConfig(t *testing.T, dir string, udpPort int, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "qliksense_sessions.conf")
	conf := fmt.Sprintf(`[[inputs.qliksense_sessions]]
  service_address = "udp://127.0.0.1:%d"
  read_buffer_size = "16MiB"
  summary_interval = "1s"
%s
`, udpPort, extra)
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	return path
}

// fileTelegraf is a Telegraf config that runs the plugin under execd and
// writes its metrics as line protocol to a file or to stdout.
type fileTelegraf struct {
	interval, flushInterval string // the agent's
	batchSize, bufferLimit  int    // the agent's metric_batch_size and metric_buffer_limit
	poll                    string // the plugin's -poll_interval
	restartDelay            string // execd's
	file                    string // outputs.file's: a path, or "stdout"
	output                  string // more lines of outputs.file, e.g. a namepass
}

// Telegraf's defaults of the settings fileTelegraf always writes.
const (
	defaultBatchSize    = 1000
	defaultBufferLimit  = 10000
	defaultRestartDelay = "10s"
)

// write writes the config to path, for the plugin in bin reading
// pluginConf, and returns path.
func (c fileTelegraf) write(t *testing.T, path, bin, pluginConf string) string {
	t.Helper()
	conf := fmt.Sprintf(`
[agent]
  interval = %q
  flush_interval = %q
  metric_batch_size = %d
  metric_buffer_limit = %d
  omit_hostname = true

[[inputs.execd]]
  command = [%q, "-config", %q, "-poll_interval", %q]
  signal = "none"
  restart_delay = %q
  data_format = "influx"

[[outputs.file]]
  files = [%q]
  data_format = "influx"
%s`, c.interval, c.flushInterval, c.batchSize, c.bufferLimit,
		filepath.Join(bin, "qliksense_sessions"), pluginConf, c.poll, c.restartDelay, c.file, c.output)
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	return path
}

// telegrafProcess is a running Telegraf.
type telegrafProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
	stdout io.Writer // where Telegraf's stdout goes; nil: into the log too
}

func (tg *telegrafProcess) log() string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.stderr.String()
}

type lockedWriter struct{ tg *telegrafProcess }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.tg.mu.Lock()
	defer w.tg.mu.Unlock()
	return w.tg.stderr.Write(p)
}

// startTelegraf runs Telegraf with the given config file and waits until
// the plugin listens. It stops Telegraf when the test ends.
func startTelegraf(t *testing.T, bin, configFile string) *telegrafProcess {
	t.Helper()
	return startTelegrafEnv(t, bin, configFile, nil)
}

// startTelegrafEnv is startTelegraf with extra environment variables
// ("NAME=value"), which the example configs read.
func startTelegrafEnv(t *testing.T, bin, configFile string, env []string) *telegrafProcess {
	t.Helper()
	return startTelegrafArgs(t, bin, configFile, env)
}

// startTelegrafArgs is startTelegrafEnv with more command-line flags, e.g.
// "--strict-env-handling".
func startTelegrafArgs(t *testing.T, bin, configFile string, env []string, flags ...string) *telegrafProcess {
	t.Helper()
	tg := &telegrafProcess{done: make(chan error, 1)}
	launchTelegraf(t, tg, bin, configFile, env, flags...)
	return tg
}

// launchTelegraf starts Telegraf as tg, its log in tg and its stdout in
// tg.stdout (nil: in the log too), kills it at the end of the test if it
// still runs, and waits until the plugin listens.
func launchTelegraf(t *testing.T, tg *telegrafProcess, bin, configFile string, env []string, flags ...string) {
	t.Helper()
	tg.cmd = exec.Command(filepath.Join(bin, "telegraf"), append([]string{"--config", configFile}, flags...)...)
	tg.cmd.Env = append(os.Environ(), env...)
	tg.cmd.Stderr = lockedWriter{tg}
	tg.cmd.Stdout = tg.stdout
	if tg.stdout == nil {
		tg.cmd.Stdout = lockedWriter{tg}
	}
	require.NoError(t, tg.cmd.Start())
	go func() { tg.done <- tg.cmd.Wait() }()
	t.Cleanup(func() {
		if tg.cmd.ProcessState == nil {
			tg.cmd.Process.Kill() //nolint:errcheck // best effort at the end of a test
			<-tg.done             //nolint:errcheck // killed: Wait's error says only that
		}
		if t.Failed() {
			t.Logf("telegraf log:\n%s", tg.log())
		}
	})
	tg.waitForLog(t, "Listening for log4net datagrams on", 60*time.Second)
}

// waitForLog waits until Telegraf's log holds line (a part of a line).
func (tg *telegrafProcess) waitForLog(t *testing.T, line string, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		return strings.Contains(tg.log(), line)
	}, timeout, 20*time.Millisecond, "Telegraf's log never said %q:\n%s", line, tg.log())
}

// stop sends SIGTERM and waits for a clean exit.
func (tg *telegrafProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, tg.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-tg.done:
		require.NoError(t, err, "telegraf exited with an error:\n%s", tg.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("telegraf did not stop within 30s of SIGTERM:\n%s", tg.log())
	}
}

// requireNoErrorLines fails on Telegraf log lines at error level, which is
// also where execd puts stderr lines that lack a level prefix. Telegraf's
// own race at shutdown is let through: when the process it runs exits at
// once on the closing of its stdin, execd's readers can find the pipes
// already closed by Telegraf itself ("read |0: file already closed", see
// influxdata/telegraf#8102).
func requireNoErrorLines(t *testing.T, log string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "[inputs.execd] Error in plugin: ") && strings.HasSuffix(line, "read |0: file already closed") {
			continue
		}
		require.NotContains(t, line, " E! ", "telegraf logged an error")
	}
}

// replayTraffic runs the replay tool and returns what it expects.
func replayTraffic(t *testing.T, bin string, args ...string) replay.Expected {
	t.Helper()
	expectFile := filepath.Join(t.TempDir(), "expected.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "qliksense_replay"), append(args, "-expect", expectFile)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "replay failed: %s", out)
	t.Logf("replay: %s", strings.TrimSpace(string(out)))
	data, err := os.ReadFile(expectFile)
	require.NoError(t, err)
	var expected replay.Expected
	require.NoError(t, json.Unmarshal(data, &expected))
	return expected
}

// readMetrics parses an influx line protocol file.
func readMetrics(t *testing.T, path string) []telegraf.Metric {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var metrics []telegraf.Metric
	scanMetrics(f, func(m telegraf.Metric) { metrics = append(metrics, m) })
	return metrics
}

// scanMetrics hands each metric of the line protocol r holds to each, in
// order, until r ends. Lines that are no metric are passed over: a file's
// last line may be half written.
func scanMetrics(r io.Reader, each func(telegraf.Metric)) {
	parser := &influx.Parser{}
	if err := parser.Init(); err != nil {
		panic(err) // no options: it cannot fail
	}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		if len(line) == 0 {
			continue
		}
		if m, err := parser.ParseLine(string(line)); err == nil {
			each(m)
		}
	}
}

// activeSet is the last summary the outputs saw.
type activeSet struct {
	site    replay.ServerExpected
	servers map[string]replay.ServerExpected
	events  int
	intake  map[string]interface{} // the last qliksense_sessions_internal fields
}

func lastActiveSet(t *testing.T, metrics []telegraf.Metric) activeSet {
	t.Helper()
	set := activeSet{servers: make(map[string]replay.ServerExpected)}
	for _, m := range metrics {
		switch m.Name() {
		case "qliksense_users":
			set.site = summaryOf(t, m)
		case "qliksense_users_server":
			s := summaryOf(t, m)
			s.Server = m.Tags()["server"]
			set.servers[s.Server] = s
		case "qliksense_session_event":
			set.events++
		case "qliksense_sessions_internal":
			set.intake = m.Fields()
		}
	}
	return set
}

func summaryOf(t *testing.T, m telegraf.Metric) replay.ServerExpected {
	t.Helper()
	var s replay.ServerExpected
	users, _ := m.GetField("users")
	require.NoError(t, json.Unmarshal([]byte(users.(string)), &s.Users), "users field is not a JSON array: %v", users)
	activeUsers, _ := m.GetField("active_users")
	activeSessions, _ := m.GetField("active_sessions")
	s.ActiveUsers = int(activeUsers.(int64))
	s.ActiveSessions = int(activeSessions.(int64))
	return s
}

// matches tells whether the last summaries equal the expectation, and why not.
func (set activeSet) matches(expected replay.Expected) (bool, string) {
	if set.site.ActiveUsers != expected.ActiveUsers || set.site.ActiveSessions != expected.ActiveSessions ||
		!equalStrings(set.site.Users, expected.Users) {
		return false, fmt.Sprintf("site: got %d users / %d sessions, want %d / %d",
			set.site.ActiveUsers, set.site.ActiveSessions, expected.ActiveUsers, expected.ActiveSessions)
	}
	for _, want := range expected.Servers {
		got := set.servers[want.Server]
		if got.ActiveUsers != want.ActiveUsers || got.ActiveSessions != want.ActiveSessions || !equalStrings(got.Users, want.Users) {
			return false, fmt.Sprintf("server %s: got %d users / %d sessions, want %d / %d",
				want.Server, got.ActiveUsers, got.ActiveSessions, want.ActiveUsers, want.ActiveSessions)
		}
	}
	for name, got := range set.servers {
		if got.ActiveUsers == 0 {
			continue
		}
		found := false
		for _, want := range expected.Servers {
			found = found || want.Server == name
		}
		if !found {
			return false, fmt.Sprintf("server %s has %d users, the replay expected none", name, got.ActiveUsers)
		}
	}
	return true, ""
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// exampleEnv points an example config at the test's binaries and plugin
// config, as an admin's environment would.
func exampleEnv(bin, pluginConf string, more ...string) []string {
	return append([]string{"QSS_BIN=" + bin, "QSS_CONFIG=" + pluginConf}, more...)
}

// serverBinary finds a server program; without it the test fails in CI and
// is skipped elsewhere, naming the Debian package to install. TestMain lists
// such tests at the end.
func serverBinary(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	// Debian puts daemons in /usr/sbin, which a user's PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	missing.add(t.Name(), name, debianPackage)
	if inCI() {
		t.Fatalf("%s not found: CI must install the Debian package %s (.ci/install-deps)", name, debianPackage)
	}
	t.Skipf("%s not found: apt-get install %s (or run .ci/install-deps)", name, debianPackage)
	return ""
}

// inCI tells whether the tests run in CI, where a missing server fails.
func inCI() bool { return os.Getenv("CI") != "" }

// installHint is how to get every server the tests use.
const installHint = ".ci/install-deps, or apt-get install -y mosquitto mosquitto-clients influxdb postgresql prometheus (as root)"

// missingServers records the tests that lacked a server program.
type missingServers struct {
	mu       sync.Mutex
	tests    []string
	programs []string // "influxd (influxdb)"
}

var missing missingServers

func (m *missingServers) add(test, program, debianPackage string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tests = append(m.tests, test)
	p := program
	if debianPackage != program {
		p += " (" + debianPackage + ")"
	}
	if !slices.Contains(m.programs, p) {
		m.programs = append(m.programs, p)
	}
}

// summary is the line that ends the run when tests lacked a server, "" if
// none did.
func (m *missingServers) summary() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.tests) == 0 {
		return ""
	}
	verb := "SKIPPED"
	if inCI() {
		verb = "FAILED (CI=true)"
	}
	return fmt.Sprintf("e2e: %s %d test(s) for lack of %s: %s. Install what they need: %s",
		verb, len(m.tests), strings.Join(m.programs, ", "), strings.Join(m.tests, ", "), installHint)
}

// TestMain ends the run with one line naming the tests skipped for a
// missing server and how to install it; with QSS_E2E_SKIPPED set, the line
// also goes to that file, which `make test` prints after go test's output.
// In CI a skip fails the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if line := missing.summary(); line != "" {
		fmt.Println(line)
		if path := os.Getenv("QSS_E2E_SKIPPED"); path != "" {
			if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil { // read by make, as the same user
				fmt.Fprintln(os.Stderr, "e2e:", err)
			}
		}
		if inCI() && code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// startServer runs a server process until the test ends and waits until
// ready() says it serves; its output is shown if the test fails.
func startServer(t *testing.T, name string, ready func() bool, args ...string) {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(name, args...)
	cmd.Stdout = lockedBuffer{&mu, &out}
	cmd.Stderr = lockedBuffer{&mu, &out}
	require.NoError(t, cmd.Start(), "starting %s", name)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() //nolint:errcheck // exit status is not interesting
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // may be gone
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // best effort
			<-done
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("%s output:\n%s", filepath.Base(name), out.String())
			mu.Unlock()
		}
	})
	require.Eventually(t, func() bool {
		select {
		case <-done:
			return false
		default:
		}
		return ready()
	}, 30*time.Second, 20*time.Millisecond, "%s did not become ready", name)
}

type lockedBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (b lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tcpReady tells whether something accepts connections at addr.
func tcpReady(addr string) func() bool {
	return func() bool {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
}

// writeVariant writes what edit makes of the file src to dst (which may be
// src) and returns dst: a test's variant of a shipped example, or of a
// config it wrote.
func writeVariant(t *testing.T, src, dst string, edit func(string) string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, []byte(edit(string(data))), 0o600))
	return dst
}

// replaceOnce replaces the first old in s, which must hold it.
func replaceOnce(t *testing.T, s, old, replacement string) string {
	t.Helper()
	require.Contains(t, s, old)
	return strings.Replace(s, old, replacement, 1)
}

// repoFile is a path in the repository, from this package's folder.
func repoFile(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "..", path))
	require.NoError(t, err)
	return abs
}

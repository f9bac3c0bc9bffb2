//go:build e2e

package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

// TestLogFilesEndToEnd is issue 12's done criterion, through the real
// binary under the real Telegraf: over 100,000 rows written, paced, into the
// proxies' audit activity log files while the plugin tails them, with many
// rotations (files that live less than a poll among them), end exact; a
// restart with no state file and no session API rebuilds the same set from
// the files alone; session durations are the differences of the rows' time
// stamps; a restart with the state file resumes where the first run
// stopped, rows written meanwhile included, none read twice. It measures the
// rebuild's rate through the binary and the latency from a row written to
// its metric on Telegraf's stdout.
func TestLogFilesEndToEnd(t *testing.T) {
	lt := newLogFileTest(t)
	bin, dir, audit, stateFile := lt.bin, lt.dir, lt.audit, lt.stateFile
	logfileBlock := func(pollInterval string) string {
		return fmt.Sprintf(`
  [inputs.qliksense_sessions.logfile]
    files = [%q]
    archive_max_age = "24h"
    poll_interval = %q
`, filepath.Join(audit, "*_AuditActivity_Proxy.txt"), pollInterval)
	}
	// Tailing: rotations come faster than the polls (files live about half
	// a poll), so files are caught up from their rotated names.
	tailConf := pluginConfigAt(t, dir, "tail.conf", freeUDPPort(t),
		fmt.Sprintf("  state_file = %q\n  state_save_interval = \"1s\"\n%s", stateFile, logfileBlock("500ms")))
	// The rebuild from the files alone: no state file, no session API.
	freshConf := pluginConfigAt(t, dir, "fresh.conf", freeUDPPort(t), logfileBlock("250ms"))
	// The restart with the state file, polled at the default rate.
	resumePort := freeUDPPort(t)
	resumeConf := pluginConfigAt(t, dir, "resume.conf", resumePort,
		fmt.Sprintf("  state_file = %q\n  state_save_interval = \"1s\"\n%s", stateFile, logfileBlock("250ms")))

	sim := newLogSim(t, replay.SimConfig{Users: 3000, Directories: 3, Servers: 3, Events: 10_000_000, Seed: 12, Format: "sos"},
		replay.LogConfig{Dir: audit, RotateBytes: 1 << 20, Noise: 0.05, FlushEachRow: true, Seed: 12})

	// History the first start rebuilds: the proxies ran before Telegraf.
	sim.write(5_000, 0, 0)
	require.Len(t, sim.w.Hosts(), 3)

	// 1. Tailing: 105,000 events (and the rows to ignore among them) at
	// 20,000 events/s.
	tg := startTelegrafStdout(t, bin, telegrafStdoutConfig(t, dir, "tail-telegraf.conf", bin, tailConf))
	before := sim.w.Stats()
	rows, _, _ := rebuildLine(t, tg.process)
	require.Equal(t, before.Events+before.IgnoredRows, rows)
	want := sim.write(105_000, 20_000, 250)
	tailed := sim.w.Stats()
	written := tailed.Events + tailed.IgnoredRows
	require.GreaterOrEqual(t, tailed.Events-before.Events+tailed.IgnoredRows-before.IgnoredRows, 100_000)
	rotations := tailed.Rotations - before.Rotations
	require.GreaterOrEqual(t, rotations, 3)
	t.Logf("tailing: wrote %d rows (%d events, %d to ignore) in %s over %d rotations; %d files in all",
		written-before.Events-before.IgnoredRows, tailed.Events-before.Events, tailed.IgnoredRows-before.IgnoredRows,
		sim.elapsed.Round(time.Millisecond), rotations, tailed.Files)
	got := tg.waitForSet(t, want, 60*time.Second)
	// Nothing lost, nothing read twice: every row was read once, every
	// rotation seen, every event that came while tailing reached stdout.
	intake := tg.waitForIntake(t, atLeastRows(written))
	require.Equal(t, int64(written), intake["log_rows"])
	require.Equal(t, int64(tailed.Events), intake["events_accepted"])
	require.Equal(t, int64(tailed.IgnoredRows), intake["events_ignored"])
	require.Equal(t, int64(0), intake["log_rows_malformed"])
	require.Equal(t, int64(rotations), intake["log_rotations"], "each rotation seen once")
	require.Equal(t, tailed.Events-before.Events, tg.out.count("qliksense_session_event"), "one event metric per row tailed")
	t.Logf("tailing: the last summary shows %d users, %d sessions on %d servers, %d apps, as the simulation expects",
		got.ActiveUsers, got.ActiveSessions, len(got.Servers), len(got.Apps))
	bulk := tg.out.latencies(sim.samples)
	sim.samples, sim.extraSamples = nil, 0

	// Durations: each session_stop carries the difference of its row's
	// time stamp and its session's Start row's, read back from the files.
	checkDurations(t, audit, tg.out.snapshot())
	tg.stop(t)
	requireNoErrorLines(t, tg.log())

	// 2. The files alone: a fresh start with no state file rebuilds the
	// same set in its first summary.
	started := time.Now()
	fresh := startTelegrafStdout(t, bin, telegrafStdoutConfig(t, dir, "fresh-telegraf.conf", bin, freshConf))
	first := fresh.waitForFirstSummary(t, 60*time.Second)
	firstAfter := time.Since(started)
	requireSameSet(t, want, first, "the first summary of a start from the files alone")
	rows, files, took := rebuildLine(t, fresh.process)
	require.Equal(t, written, rows)
	t.Logf("rebuild from the files alone: %d rows of %d files in %s through the binary: %.0f rows/s; "+
		"first summary on Telegraf's stdout %s after Telegraf started", rows, files, took, float64(rows)/took.Seconds(), firstAfter.Round(time.Millisecond))
	intake = fresh.waitForIntake(t, atLeastRows(written))
	require.Equal(t, int64(written), intake["log_rows"])
	require.Equal(t, 0, fresh.out.count("qliksense_session_event"), "rows read to rebuild are history, not events")
	fresh.stop(t)
	requireNoErrorLines(t, fresh.log())

	// 3. With the state file: rows written while Telegraf was stopped,
	// across a restart of the proxies (every file rotated), are read, and
	// only they.
	sim.write(3_000, 0, 0)
	require.NoError(t, sim.w.RotateAll(sim.clock.At(sim.next)))
	want = sim.write(2_000, 0, 0)
	stopped := sim.w.Stats()
	whileStopped := stopped.Events + stopped.IgnoredRows - written
	resumed := startTelegrafStdout(t, bin, telegrafStdoutConfig(t, dir, "resume-telegraf.conf", bin, resumeConf))
	resumed.waitForSet(t, want, 60*time.Second)
	intake = resumed.waitForIntake(t, atLeastRows(whileStopped))
	require.Equal(t, int64(whileStopped), intake["log_rows"], "the resumed run reads the rows written while stopped, and only them")
	rows, _, _ = rebuildLine(t, resumed.process)
	require.Equal(t, whileStopped, rows)

	// UDP events of a server read from its files are dropped (counted),
	// whatever the case of its name: no session counts twice.
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", resumePort))
	require.NoError(t, err)
	defer conn.Close()
	for i := range 10 {
		_, err := fmt.Fprintf(conn, "/qseow-proxy-session/;sense%d;Start session;LAB;udp.ghost%d;AppAccess;/hub/;"+
			"Start session for user 'LAB\\udp.ghost%d'", i%3+1, i, i)
		require.NoError(t, err)
	}
	resumed.waitForIntake(t, func(f map[string]interface{}) bool { return f["udp_events_superseded"] == int64(10) })

	// Tail latency: single rows at random moments, each timed from its
	// write to its event metric on Telegraf's stdout.
	rng := rand.New(rand.NewPCG(12, 12))
	for range 40 {
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		want = sim.write(1, 0, 1)
	}
	resumed.waitForSet(t, want, 30*time.Second)
	single := resumed.out.latencies(sim.samples)
	resumed.stop(t)
	requireNoErrorLines(t, resumed.log())

	t.Logf("tail latency, row written → metric on Telegraf's stdout (poll_interval 500ms, 20,000 events/s): %s", bulk)
	t.Logf("tail latency, single rows (poll_interval 250ms, flush_interval 100ms): %s", single)
	require.Len(t, single.values, 40+sim.extraSamples, "every sampled row reached stdout")
	require.Less(t, single.max(), time.Second, "a row reaches stdout as a metric within 1 s while tailing")
}

// logFileTest is the binaries' folder, the test's folder, an empty Audit
// folder in it for the log files, and the path of a state file there.
type logFileTest struct{ bin, dir, audit, stateFile string }

func newLogFileTest(t *testing.T) logFileTest {
	t.Helper()
	lt := logFileTest{bin: binDir(t), dir: t.TempDir()}
	lt.audit, lt.stateFile = filepath.Join(lt.dir, "Audit"), filepath.Join(lt.dir, "state.json")
	require.NoError(t, os.Mkdir(lt.audit, 0o750))
	return lt
}

// pluginConfigAt is pluginConfig under another file name.
func pluginConfigAt(t *testing.T, dir, name string, udpPort int, extra string) string {
	t.Helper()
	sub := filepath.Join(dir, strings.TrimSuffix(name, ".conf"))
	require.NoError(t, os.MkdirAll(sub, 0o750))
	return pluginConfig(t, sub, udpPort, extra)
}

// telegrafStdoutConfig runs the plugin under execd with its metrics on
// Telegraf's stdout, flushed every 100 ms.
func telegrafStdoutConfig(t *testing.T, dir, name, bin, pluginConf string) string {
	t.Helper()
	return fileTelegraf{interval: "10s", flushInterval: "100ms", batchSize: 20000, bufferLimit: 2000000,
		poll: "3s", restartDelay: "1s", file: "stdout"}.write(t, filepath.Join(dir, name), bin, pluginConf)
}

// logSim writes a simulation's events as log files and knows what it wrote.
type logSim struct {
	t     *testing.T
	sim   *replay.Simulation
	w     *replay.LogWriter
	clock replay.SimClock
	next  int // the clock's next event
	// samples are rows timed as written: the time stamp of the row (its
	// metric's time) and when it was flushed.
	samples      map[int64]time.Time
	extraSamples int // rows written with the samples that were sampled too
	elapsed      time.Duration
}

func newLogSim(t *testing.T, cfg replay.SimConfig, logCfg replay.LogConfig) *logSim {
	t.Helper()
	sim, err := replay.NewSimulation(cfg)
	require.NoError(t, err)
	w, err := replay.NewLogWriter(logCfg)
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	// Ten events a second on the simulated clock, ending about now: the
	// rows of a busy morning.
	clock := replay.SimClock{Start: time.Now().Add(-4 * time.Hour).Truncate(time.Millisecond), Rate: 10}
	return &logSim{t: t, sim: sim, w: w, clock: clock}
}

// write writes n events, and those decided with them, at rate rows per
// second (0: at once); every sample-th event is timed (0: none). It returns
// the simulation's expected active set, which matches the rows written.
func (s *logSim) write(n int, rate float64, sample int) replay.Expected {
	s.t.Helper()
	pacer := replay.NewPacer(rate)
	began := time.Now()
	if s.samples == nil {
		s.samples = make(map[int64]time.Time)
	}
	for k := 0; k < n || !s.sim.Settled(); k++ {
		pacer.Wait(k)
		ev, ok := s.sim.Next()
		require.True(s.t, ok)
		at := s.clock.At(s.next)
		require.NoError(s.t, s.w.Write(&ev, at))
		if sample > 0 && k%sample == 0 {
			require.NoError(s.t, s.w.Flush())
			s.samples[at.UnixNano()] = time.Now()
			if k >= n {
				s.extraSamples++
			}
		}
		s.next++
	}
	require.NoError(s.t, s.w.Flush())
	s.elapsed = time.Since(began)
	return s.sim.Expected()
}

// stdoutMetrics parses Telegraf's stdout as it comes, and notes when each
// line arrived.
type stdoutMetrics struct {
	mu      sync.Mutex
	parser  *influx.Parser
	partial []byte
	metrics []telegraf.Metric
	arrived []time.Time
	bad     int    // lines that are no metric
	badLine string // the first of them
}

func (o *stdoutMetrics) Write(p []byte) (int, error) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		line := string(o.partial[:i])
		o.partial = o.partial[i+1:]
		m, err := o.parser.ParseLine(line)
		if err != nil {
			if o.bad++; o.bad == 1 {
				o.badLine = fmt.Sprintf("%.300s: %v", line, err)
			}
			continue
		}
		o.metrics = append(o.metrics, m)
		o.arrived = append(o.arrived, now)
	}
	return len(p), nil
}

func (o *stdoutMetrics) snapshot() []telegraf.Metric {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.metrics)
}

func (o *stdoutMetrics) count(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return countName(o.metrics, name)
}

func countName(metrics []telegraf.Metric, name string) int {
	n := 0
	for _, m := range metrics {
		if m.Name() == name {
			n++
		}
	}
	return n
}

// latencies are, for the sampled rows, the time from their write to the
// arrival of their event metric (known by its time, the row's).
func (o *stdoutMetrics) latencies(samples map[int64]time.Time) latencyStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	var l latencyStats
	for i, m := range o.metrics {
		if m.Name() != "qliksense_session_event" {
			continue
		}
		if written, ok := samples[m.Time().UnixNano()]; ok {
			l.values = append(l.values, o.arrived[i].Sub(written))
		}
	}
	slices.Sort(l.values)
	return l
}

type latencyStats struct{ values []time.Duration }

func (l latencyStats) quantile(q float64) time.Duration {
	if len(l.values) == 0 {
		return 0
	}
	return l.values[min(len(l.values)-1, int(q*float64(len(l.values))))]
}

func (l latencyStats) max() time.Duration { return l.quantile(1) }

func (l latencyStats) String() string {
	return fmt.Sprintf("%d rows: p50 %s, p95 %s, max %s", len(l.values),
		l.quantile(0.5).Round(time.Millisecond), l.quantile(0.95).Round(time.Millisecond), l.max().Round(time.Millisecond))
}

// stdoutTelegraf is a Telegraf whose stdout is parsed as it comes.
type stdoutTelegraf struct {
	*process
	out *stdoutMetrics
}

type process = telegrafProcess

// startTelegrafStdout is startTelegraf with stdout kept apart from the log,
// and env ("NAME=value") added to its environment.
func startTelegrafStdout(t *testing.T, bin, configFile string, env ...string) *stdoutTelegraf {
	t.Helper()
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	out := &stdoutMetrics{parser: parser}
	tg := &stdoutTelegraf{process: &telegrafProcess{done: make(chan error, 1), stdout: out}, out: out}
	launchTelegraf(t, tg.process, bin, configFile, env)
	return tg
}

// summarySet is the active set the summaries show, in replay's terms.
func summarySet(t *testing.T, metrics []telegraf.Metric, first bool) replay.Expected {
	t.Helper()
	set := replay.Expected{}
	servers := map[string]replay.ServerExpected{}
	apps := map[string]replay.AppExpected{}
	var at time.Time
	for _, m := range metrics {
		if first && !at.IsZero() && !m.Time().Equal(at) {
			continue
		}
		switch m.Name() {
		case "qliksense_users":
			if first && !at.IsZero() {
				continue
			}
			at = m.Time()
			s := summaryOf(t, m)
			set.ActiveUsers, set.ActiveSessions, set.Users = s.ActiveUsers, s.ActiveSessions, s.Users
		case "qliksense_users_server":
			if at.IsZero() {
				continue
			}
			s := summaryOf(t, m)
			s.Server = m.Tags()["server"]
			servers[s.Server] = s
		case "qliksense_users_app":
			if at.IsZero() {
				continue
			}
			var a replay.AppExpected
			users, _ := m.GetField("users")
			require.NoError(t, json.Unmarshal([]byte(users.(string)), &a.Users))
			n, _ := m.GetField("active_users")
			c, _ := m.GetField("active_connections")
			a.App, a.ActiveUsers, a.ActiveConnections = m.Tags()["app_id"], int(n.(int64)), int(c.(int64))
			apps[a.App] = a
		}
	}
	for _, s := range servers {
		if s.ActiveSessions > 0 {
			set.Servers = append(set.Servers, s)
		}
	}
	for _, a := range apps {
		if a.ActiveUsers > 0 {
			set.Apps = append(set.Apps, a)
		}
	}
	return normalized(set)
}

// normalized writes user names in lower case and sorts everything: a
// user's spelling is the first the plugin read, and several servers' files
// are read side by side, not in the order of their time stamps, so it may
// be another server's spelling than the one the simulation saw first. Who
// is active is exact.
func normalized(e replay.Expected) replay.Expected {
	fold := func(names []string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = strings.ToLower(n)
		}
		sort.Strings(out)
		return out
	}
	out := replay.Expected{ActiveUsers: e.ActiveUsers, ActiveSessions: e.ActiveSessions, Users: fold(e.Users),
		Servers: make([]replay.ServerExpected, 0, len(e.Servers)), Apps: make([]replay.AppExpected, 0, len(e.Apps))}
	for _, s := range e.Servers {
		s.Users = fold(s.Users)
		out.Servers = append(out.Servers, s)
	}
	for _, a := range e.Apps {
		a.Users = fold(a.Users)
		out.Apps = append(out.Apps, a)
	}
	slices.SortFunc(out.Servers, func(a, b replay.ServerExpected) int { return strings.Compare(a.Server, b.Server) })
	slices.SortFunc(out.Apps, func(a, b replay.AppExpected) int { return strings.Compare(a.App, b.App) })
	return out
}

func sameSet(a, b replay.Expected) bool {
	return bytes.Equal(mustJSON(normalized(a)), mustJSON(normalized(b)))
}

// mustJSON is v in JSON, for values that always marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func requireSameSet(t *testing.T, want, got replay.Expected, what string) {
	t.Helper()
	if !sameSet(want, got) {
		w, g := normalized(want), normalized(got)
		require.Equal(t, w.ActiveUsers, g.ActiveUsers, "%s: active users", what)
		require.Equal(t, w.ActiveSessions, g.ActiveSessions, "%s: active sessions", what)
		require.Equal(t, w.Users, g.Users, "%s: users", what)
		require.Equal(t, w.Servers, g.Servers, "%s: servers", what)
		require.Equal(t, w.Apps, g.Apps, "%s: apps", what)
	}
}

// waitForSet waits until the last summaries (site, each server, each app)
// show the expected set.
func (tg *stdoutTelegraf) waitForSet(t *testing.T, want replay.Expected, timeout time.Duration) replay.Expected {
	t.Helper()
	var got replay.Expected
	deadline := time.Now().Add(timeout)
	for {
		got = summarySet(t, tg.out.snapshot(), false)
		if sameSet(want, got) {
			return got
		}
		if time.Now().After(deadline) {
			tg.out.mu.Lock()
			t.Logf("Telegraf's stdout: %d metrics, %d app summaries; %d lines that are no metric (the first: %s)",
				len(tg.out.metrics), countName(tg.out.metrics, "qliksense_users_app"), tg.out.bad, tg.out.badLine)
			tg.out.mu.Unlock()
			requireSameSet(t, want, got, "the last summaries")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForFirstSummary waits for the first summary and returns it.
func (tg *stdoutTelegraf) waitForFirstSummary(t *testing.T, timeout time.Duration) replay.Expected {
	t.Helper()
	var set replay.Expected
	require.Eventually(t, func() bool {
		tg.out.mu.Lock()
		metrics, arrived := slices.Clone(tg.out.metrics), slices.Clone(tg.out.arrived)
		tg.out.mu.Unlock()
		i := slices.IndexFunc(metrics, func(m telegraf.Metric) bool { return m.Name() == "qliksense_users" })
		if i < 0 {
			return false
		}
		// The servers' and apps' metrics share the site's time and follow
		// it, in the same flush or the next: the summary is complete once
		// a later metric came, or a second passed.
		complete := time.Since(arrived[i]) > time.Second
		for _, m := range metrics[i+1:] {
			complete = complete || !m.Time().Equal(metrics[i].Time())
		}
		if complete {
			set = summarySet(t, metrics, true)
		}
		return complete
	}, timeout, 20*time.Millisecond, "no summary")
	return set
}

// waitForIntake waits up to 30 s for qliksense_sessions_internal fields
// that ok accepts, and returns them.
func (tg *stdoutTelegraf) waitForIntake(t *testing.T, ok func(map[string]interface{}) bool) map[string]interface{} {
	t.Helper()
	var last map[string]interface{}
	require.Eventually(t, func() bool {
		last = lastActiveSet(t, tg.out.snapshot()).intake
		return last != nil && ok(last)
	}, 30*time.Second, 100*time.Millisecond, "qliksense_sessions_internal never showed what was expected; last: %v", last)
	return last
}

// atLeastRows accepts counters that show n rows read, or more.
func atLeastRows(n int) func(map[string]interface{}) bool {
	return func(fields map[string]interface{}) bool {
		rows, _ := fields["log_rows"].(int64)
		return rows >= int64(n)
	}
}

var rebuildLog = regexp.MustCompile(`Read (\d+) rows of (\d+) log files in ([0-9.]+[µnm]?s)`)

// rebuildLine reads the plugin's log line on its rebuild.
func rebuildLine(t *testing.T, tg *telegrafProcess) (rows, files int, took time.Duration) {
	t.Helper()
	var m []string
	require.Eventually(t, func() bool {
		m = rebuildLog.FindStringSubmatch(tg.log())
		return m != nil
	}, 30*time.Second, 20*time.Millisecond, "no rebuild line in the log")
	rows, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	files, err = strconv.Atoi(m[2])
	require.NoError(t, err)
	took, err = time.ParseDuration(m[3])
	require.NoError(t, err)
	return rows, files, took
}

// checkDurations checks every session_stop event against the rows of the
// files: its session_duration_s is its row's time stamp less that of its
// session's Start row.
func checkDurations(t *testing.T, dir string, metrics []telegraf.Metric) {
	t.Helper()
	logs, err := replay.ReadLogDir(dir)
	require.NoError(t, err)
	type key struct {
		server string
		at     int64
	}
	want := map[key]time.Duration{}
	for _, hl := range logs {
		started := map[string]time.Time{}
		for _, ev := range hl.Events {
			switch ev.Command {
			case replay.StartSession:
				started[ev.SessionID] = ev.Time
			case replay.StopSession:
				if at, ok := started[ev.SessionID]; ok {
					want[key{strings.ToLower(ev.Server), ev.Time.UnixNano()}] = ev.Time.Sub(at)
					delete(started, ev.SessionID)
				}
			}
		}
	}
	checked, longest := 0, time.Duration(0)
	for _, m := range metrics {
		if m.Name() != "qliksense_session_event" || m.Tags()["event"] != "session_stop" {
			continue
		}
		d, ok := want[key{strings.ToLower(m.Tags()["server"]), m.Time().UnixNano()}]
		require.True(t, ok, "a session_stop at %s on %s that the files do not have", m.Time(), m.Tags()["server"])
		got, ok := m.GetField("session_duration_s")
		require.True(t, ok, "session_stop at %s on %s has no session_duration_s", m.Time(), m.Tags()["server"])
		require.Equal(t, d.Seconds(), got, "session_stop at %s on %s", m.Time(), m.Tags()["server"]) //nolint:testifylint // exact: same time stamps
		checked++
		longest = max(longest, d)
	}
	require.Greater(t, checked, 1000)
	t.Logf("durations: %d session_stop events carry exactly the difference of their rows' time stamps (longest %s)", checked, longest.Round(time.Second))
}

// TestPlatformExamplesCheck: the Telegraf configs shipped for Windows and
// for a Linux systemd host (and the demo's file source) pass the real
// Telegraf's `config check`, which fails on unknown keys, as a typo shows.
// (The plugin configs beside them pass the binary's own strict check in
// cmd/qliksense_sessions.)
func TestPlatformExamplesCheck(t *testing.T) {
	bin := binDir(t)
	check := func(path string, env ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "telegraf"), "config", "check", "--config", path)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, path := range []string{"examples/windows/telegraf.conf", "examples/linux/qliksense_sessions.conf", "examples/demo/telegraf-logfiles.conf"} {
		t.Run(path, func(t *testing.T) {
			out, err := check(repoFile(t, path), "QSS_BIN="+bin, "QSS_DEMO="+repoFile(t, "examples/demo"))
			require.NoError(t, err, "%s", out)
			require.NotContains(t, out, " E! ")
		})
	}
	typo := writeVariant(t, repoFile(t, "examples/windows/telegraf.conf"), filepath.Join(t.TempDir(), "telegraf.conf"),
		func(shipped string) string { return replaceOnce(t, shipped, "signal = ", "signall = ") })
	out, err := check(typo)
	require.Error(t, err)
	require.Contains(t, out, `["signall"]`)
}

// TestSeveralNodes: one agent per node, each reading its own node's files,
// as the README's "Several nodes" describes. Each node's summaries are
// exact for its server; the sum of their site counts counts a user once per
// node they are on; the union of the servers' users lists is the site's
// distinct count, and the README's SQL query forms it in PostgreSQL from
// the per-server summaries as Telegraf's outputs.postgresql stores them
// (one table per measurement, tags and fields as columns).
func TestSeveralNodes(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	all := filepath.Join(dir, "written")
	require.NoError(t, os.Mkdir(all, 0o750))
	// Few users on three servers: most are on more than one.
	sim := newLogSim(t, replay.SimConfig{Users: 200, Directories: 2, Servers: 3, Events: 1_000_000, Seed: 6, Format: "sos"},
		replay.LogConfig{Dir: all, RotateBytes: 256 << 10, Noise: 0.05, Seed: 6})
	want := sim.write(20_000, 0, 0)
	require.NoError(t, sim.w.Close())

	// Each node's own Audit folder holds its own files.
	entries, err := os.ReadDir(all)
	require.NoError(t, err)
	for _, e := range entries {
		host, _, _ := strings.Cut(e.Name(), "_")
		node := filepath.Join(dir, host, "Audit")
		require.NoError(t, os.MkdirAll(node, 0o750))
		require.NoError(t, os.Rename(filepath.Join(all, e.Name()), filepath.Join(node, e.Name())))
	}
	type node struct {
		name string
		p    *plugin
	}
	nodes := make([]node, 0, len(want.Servers))
	for _, srv := range want.Servers {
		conf := pluginConfigAt(t, dir, srv.Server+".conf", freeUDPPort(t), fmt.Sprintf(`
  [inputs.qliksense_sessions.logfile]
    files = [%q]
    archive_max_age = "24h"
`, filepath.Join(dir, srv.Server, "Audit", "*_AuditActivity_Proxy.txt")))
		nodes = append(nodes, node{srv.Server, startPlugin(t, bin, conf)})
	}

	sum, union := 0, map[string]bool{}
	var rows [][]string // qliksense_users_server as outputs.postgresql stores it
	for i, n := range nodes {
		var set activeSet
		require.Eventually(t, func() bool {
			set = lastActiveSet(t, n.p.snapshot())
			got := normalized(replay.Expected{Servers: []replay.ServerExpected{set.servers[n.name]}})
			return sameSet(replay.Expected{Servers: []replay.ServerExpected{want.Servers[i]}}, got)
		}, 30*time.Second, 20*time.Millisecond, "node %s never showed its server's sessions", n.name)
		require.Len(t, set.servers, 1, "a node's agent knows its own server only")
		sum += set.site.ActiveUsers
		for _, u := range set.servers[n.name].Users {
			union[strings.ToLower(u)] = true
		}
		for _, m := range n.p.snapshot() {
			if m.Name() != "qliksense_users_server" {
				continue
			}
			users, _ := m.GetField("users")
			activeUsers, _ := m.GetField("active_users")
			activeSessions, _ := m.GetField("active_sessions")
			rows = append(rows, []string{m.Time().UTC().Format("2006-01-02 15:04:05.999999"), "telegraf-" + strings.ToLower(n.name),
				m.Tags()["server"], m.Tags()["trigger"], fmt.Sprint(activeUsers), fmt.Sprint(activeSessions), users.(string)})
		}
	}
	t.Logf("%d users active on the site; the nodes' counts add up to %d; the union of the servers' lists has %d", want.ActiveUsers, sum, len(union))
	require.Greater(t, sum, want.ActiveUsers, "users on several nodes count once per node in a sum")
	require.Len(t, union, want.ActiveUsers, "the union of the per-server lists is the site's distinct count")

	// The README's query, on a real PostgreSQL.
	psql := startPostgres(t)
	psql(t, `CREATE TABLE qliksense_users_server ("time" timestamp without time zone, host text, server text, "trigger" text,
		active_users bigint, active_sessions bigint, users text)`, nil)
	var csvData bytes.Buffer
	w := csv.NewWriter(&csvData)
	require.NoError(t, w.WriteAll(rows))
	psql(t, `\copy qliksense_users_server FROM STDIN WITH (FORMAT csv)`, &csvData)
	query := readmeSQL(t, "## Several nodes")
	got := strings.TrimSpace(psql(t, query, nil))
	require.Equal(t, strconv.Itoa(want.ActiveUsers), got, "the README's query:\n%s", query)
	sessions := strings.TrimSpace(psql(t, `SELECT sum(active_sessions) FROM (SELECT DISTINCT ON (server) active_sessions
		FROM qliksense_users_server ORDER BY server, "time" DESC) AS last`, nil))
	require.Equal(t, strconv.Itoa(want.ActiveSessions), sessions, "the servers' sessions add up")
	t.Logf("PostgreSQL, over %d rows of qliksense_users_server: the README's query gives %s users; the servers' sessions add up to %s",
		len(rows), got, sessions)
}

// readmeSQL returns the first ```sql block of a README section.
func readmeSQL(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile(repoFile(t, "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(data), "\n"+heading+"\n")
	require.True(t, ok, "README.md has no section %q", heading)
	_, block, ok := strings.Cut(section, "```sql\n")
	require.True(t, ok, "no sql block in README.md's %q", heading)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	return block
}

// startPostgres runs a PostgreSQL server in a temporary folder on a free
// loopback port until the test ends (as the postgres user when the test runs
// as root, which PostgreSQL refuses), and returns a psql runner.
func startPostgres(t *testing.T) func(t *testing.T, sql string, stdin *bytes.Buffer) string {
	t.Helper()
	server, err := exec.LookPath("postgres")
	if err != nil {
		// Debian keeps the server off PATH.
		found, err := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
		require.NoError(t, err)
		if len(found) == 0 {
			server = serverBinary(t, "postgres", "postgresql")
		} else {
			server = found[len(found)-1]
		}
	}
	if resolved, err := filepath.EvalSymlinks(server); err == nil {
		server = resolved
	}
	binDir := filepath.Dir(server)
	base, err := os.MkdirTemp("", "qss-postgres-") //nolint:usetesting // not t.TempDir(): its parent is private, and the postgres user must get in
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755)) //nolint:gosec // G302: the postgres user must get in
	as := func(name string, args ...string) *exec.Cmd {
		return exec.Command(filepath.Join(binDir, name), args...)
	}
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		require.NoError(t, err, "running as root: PostgreSQL needs the postgres user")
		uid, err := strconv.Atoi(pg.Uid)
		require.NoError(t, err)
		gid, err := strconv.Atoi(pg.Gid)
		require.NoError(t, err)
		require.NoError(t, os.Chown(base, uid, gid))
		as = func(name string, args ...string) *exec.Cmd {
			return exec.Command("setpriv", append([]string{"--reuid=" + pg.Uid, "--regid=" + pg.Gid, "--init-groups", "--",
				filepath.Join(binDir, name)}, args...)...)
		}
	}
	data := filepath.Join(base, "data")
	out, err := as("initdb", "-D", data, "-U", "qss", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput()
	require.NoError(t, err, "initdb: %s", out)
	port := freeTCPPort(t)
	cmd := as("postgres", "-D", data, "-k", base, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	var log lockedBuffer
	log.mu, log.buf = &sync.Mutex{}, &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() //nolint:errcheck // exit status is not interesting
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck // fast shutdown; may be gone
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // best effort
			<-done
		}
		if t.Failed() {
			log.mu.Lock()
			t.Logf("postgres output:\n%s", log.buf.String())
			log.mu.Unlock()
		}
	})
	require.Eventually(t, tcpReady(fmt.Sprintf("127.0.0.1:%d", port)), 30*time.Second, 20*time.Millisecond, "postgres did not start")
	return func(t *testing.T, sql string, stdin *bytes.Buffer) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "psql"), "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "qss", "-d", "postgres",
			"-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", sql)
		if stdin != nil {
			cmd.Stdin = stdin
		}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "psql: %s", out)
		return string(out)
	}
}

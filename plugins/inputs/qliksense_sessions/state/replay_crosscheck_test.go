package state_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/auditlog"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/log4net"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// The replay's Model is the end-to-end tests' independent account of what
// the plugin must report (internal/replay imports no plugin package). Here
// the two independent implementations meet: the plugin's parsers and state
// and the replay's readers and Model, fed the same traffic, must read every
// payload and row alike and show the same active set after every event.

func TestReplayWindowMirrorsThePluginsDefault(t *testing.T) {
	require.Equal(t, state.DefaultReorderWindow, replay.ReorderWindow)
}

// pluginSet is the state's active set as the replay's Expected.
func pluginSet(s *state.State, events int) replay.Expected {
	changes := s.TakeChanges()
	site, servers := s.Summarise(changes)
	exp := replay.Expected{EventsSent: events, ActiveUsers: site.ActiveUsers, ActiveSessions: site.ActiveSessions, Users: site.Users,
		Servers: make([]replay.ServerExpected, 0, len(servers)), Apps: make([]replay.AppExpected, 0)}
	for _, srv := range servers {
		if srv.ActiveSessions > 0 {
			exp.Servers = append(exp.Servers, replay.ServerExpected{Server: srv.Server, ActiveUsers: srv.ActiveUsers,
				ActiveSessions: srv.ActiveSessions, Users: srv.Users})
		}
	}
	for _, a := range s.SummariseApps(changes) {
		if a.ActiveUsers > 0 {
			exp.Apps = append(exp.Apps, replay.AppExpected{App: a.App, ActiveUsers: a.ActiveUsers, ActiveConnections: a.ActiveConnections, Users: a.Users})
		}
	}
	return exp
}

// asReplay is a parser's status in the replay's terms.
func asReplay(s event.Status) replay.Status {
	return map[event.Status]replay.Status{event.Accepted: replay.Accepted, event.Ignored: replay.Ignored, event.Malformed: replay.Malformed}[s]
}

// sameEvent compares what the plugin's parser and the replay's reader made
// of one payload or row.
func sameEvent(t *testing.T, plugin *event.Event, model *replay.Event, what string) {
	t.Helper()
	require.Equal(t, replay.Event{Server: plugin.Server, Command: plugin.Command.String(), Directory: plugin.Directory,
		UserID: plugin.UserID, Context: plugin.Context, Message: plugin.Message, SessionID: plugin.SessionID}, *model, what)
}

// lockstep feeds payloads, arriving at rate per second (0: at once), to the
// plugin's parser (the intake's, ANSI included) and state and to the
// replay's reader and Model; they must read each payload alike and show the
// same active set every compareEvery payloads, at sweeps now and then, and
// at the end, after the sweep ExpectFromPayloads makes.
func lockstep(t *testing.T, payloads [][]byte, rate float64, compareEvery int, seed uint64) {
	t.Helper()
	s := state.New(state.Config{ReorderWindow: state.DefaultReorderWindow})
	m := replay.NewModel(replay.ReorderWindow)
	var parser log4net.Parser
	var parsed event.Parsed
	rng := rand.New(rand.NewPCG(seed, 3))
	start := time.Unix(1_000_000_000, 0)
	at := start
	for i, p := range payloads {
		if rate > 0 {
			at = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		}
		parser.Parse(p, &parsed)
		ev, status := replay.ReadPayload(p)
		what := fmt.Sprintf("payload %d %q at %g per s", i, p, rate)
		require.Equal(t, asReplay(parsed.Status), status, "%s: %s", what, parsed.Reason)
		if status == replay.Accepted {
			sameEvent(t, &parsed.Event, &ev, what)
			s.Apply(&parsed.Event, at)
			m.Apply(&ev, at)
		}
		if rng.IntN(200) == 0 {
			s.Sweep(at)
			m.Sweep(at)
		}
		if compareEvery > 0 && (i+1)%compareEvery == 0 {
			require.Equal(t, pluginSet(s, i+1), m.Snapshot(i+1), "after %s", what)
		}
	}
	s.Sweep(at.Add(time.Second))
	m.Sweep(at.Add(time.Second))
	want := pluginSet(s, len(payloads))
	require.Equal(t, want, m.Snapshot(len(payloads)), "at the end")
	require.Equal(t, want, replay.ExpectFromPayloads(payloads, rate), "ExpectFromPayloads")
}

// simulated is a simulation's traffic as payloads; with churn, users leave
// for good as it goes, and most log out at the end.
func simulated(t *testing.T, cfg replay.SimConfig, churn float64) [][]byte {
	t.Helper()
	sim, err := replay.NewSimulation(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(cfg.Seed, 99))
	var payloads [][]byte
	for n := 0; ; n++ {
		if churn > 0 && rng.Float64() < churn {
			sim.Churn()
		}
		if churn > 0 && n == cfg.Events*9/10 {
			sim.LogOutAll(0.1)
		}
		ev, ok := sim.Next()
		if !ok {
			return payloads
		}
		p, err := replay.AppendPayload(nil, cfg.Format, &ev, time.Time{})
		require.NoError(t, err)
		payloads = append(payloads, p)
	}
}

// Simulated traffic of many seeds, in every format, with races and
// sessions that began before we listened, at rates that put few or many
// events within the reorder window, with and without churn.
func TestReplayModelAgreesOnSimulatedTraffic(t *testing.T) {
	for _, format := range []string{"sos", "butler", "legacy"} {
		for _, rate := range []float64{0, 20, 200, 1000, 5000} {
			t.Run(fmt.Sprintf("%s at %g per s", format, rate), func(t *testing.T) {
				for seed := uint64(1); seed <= 6; seed++ {
					cfg := replay.SimConfig{Users: 12 + int(seed)*6, Directories: 2, Servers: 1 + int(seed%3), Events: 1500,
						Seed: seed*31 + uint64(rate), Format: format, Race: 0.1 * float64(seed%4+1), Preexisting: int(seed) * 3,
						WindowEvents: replay.WindowEvents(rate)}
					churn := 0.0
					if seed%2 == 0 {
						churn = 0.05
					}
					lockstep(t, simulated(t, cfg, churn), rate, 7, seed)
				}
				big := replay.SimConfig{Users: 200, Directories: 3, Servers: 4, Events: 20000, Seed: 7, Format: format,
					Race: 0.3, Preexisting: 60, WindowEvents: replay.WindowEvents(rate)}
				lockstep(t, simulated(t, big, 0), rate, 500, 7)
			})
		}
	}
}

// Without the reorder window the plugin would count the raced sessions
// twice: the traffic does test it. (Moved from internal/replay, which no
// longer imports the state.)
func TestRacesNeedTheWindow(t *testing.T) {
	cfg := replay.SimConfig{Users: 200, Directories: 3, Servers: 4, Events: 20000, Seed: 7, Format: "sos", Race: 0.3}
	sim, err := replay.NewSimulation(cfg)
	require.NoError(t, err)
	s := state.New(state.Config{})
	var ev event.Event
	for e, ok := sim.Next(); ok; e, ok = sim.Next() {
		p, err := replay.AppendPayload(nil, cfg.Format, &e, time.Time{})
		require.NoError(t, err)
		if status, _ := log4net.Parse(p, &ev); status == log4net.Accepted {
			s.Apply(&ev, time.Unix(1e9, 0))
		}
	}
	require.Greater(t, s.ActiveSessions(), sim.Expected().ActiveSessions)
	require.NotZero(t, s.Counters().SessionsInferred)
}

// Traffic sent in bursts, with pauses longer than the reorder window where
// Settled holds: at every such checkpoint the simulation's model and the
// plugin's parser and state agree, apps included. Where Settled does not
// hold, the model is ahead of what was sent, and they may not. (Moved from
// internal/replay, which checks its own Model alike.)
func TestSettledCheckpointsAgreeWithThePlugin(t *testing.T) {
	const rate = 1000
	cfg := replay.SimConfig{Users: 60, Directories: 2, Servers: 3, Events: 8000, Seed: 17, Format: "sos",
		Race: 0.3, Preexisting: 20, WindowEvents: replay.WindowEvents(rate)}
	plugin := &pluginChecked{s: state.New(state.Config{ReorderWindow: state.DefaultReorderWindow})}
	st, err := replay.CheckSettledCheckpoints(cfg, rate, state.DefaultReorderWindow, plugin, func(checkpoint, n int, want, got replay.Expected) {
		require.Equal(t, want, got, "checkpoint %d after %d events", checkpoint, n)
	})
	require.NoError(t, err)
	require.Empty(t, st.Lacking(15))
	t.Log(st)
}

// pluginChecked is the plugin's parser and state under
// replay.CheckSettledCheckpoints.
type pluginChecked struct {
	s  *state.State
	ev event.Event
}

func (c *pluginChecked) Apply(payload []byte, at time.Time) {
	if status, _ := log4net.Parse(payload, &c.ev); status == log4net.Accepted {
		c.s.Apply(&c.ev, at)
	}
}
func (c *pluginChecked) Sweep(at time.Time)             { c.s.Sweep(at) }
func (c *pluginChecked) Snapshot(n int) replay.Expected { return pluginSet(c.s, n) }

// repoFile is a path from the repository's root.
func repoFile(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "..", ".."}, parts...)...)
}

// recordedPayloads reads a file of recorded payloads: one a line, blank and
// # lines skipped, a line opening with '"' a Go string literal; or a Go
// fuzz corpus entry, []byte("...").
func recordedPayloads(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	if literal, ok := strings.CutPrefix(string(data), "go test fuzz v1\n"); ok {
		literal = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(literal), "[]byte("), ")")
		p, err := strconv.Unquote(literal)
		require.NoError(t, err, path)
		return [][]byte{[]byte(p)}
	}
	lines := strings.Split(string(data), "\n")
	payloads := make([][]byte, 0, len(lines))
	for _, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, `"`) {
			unquoted, err := strconv.Unquote(line)
			require.NoError(t, err, "%s: %s", path, line)
			line = unquoted
		}
		payloads = append(payloads, []byte(line))
	}
	return payloads
}

// The recorded payloads of the repository, file by file and all in one
// stream: the sample day, the parser's sample datagrams (valid, ignored,
// malformed, real-shaped, ANSI among them), the plugin's end-to-end cases
// and the fuzzers' seeds.
func TestReplayModelAgreesOnRecordedPayloads(t *testing.T) {
	var files []string
	for _, pattern := range []string{"testdata/*.txt", "testdata/datagrams/*.txt",
		"plugins/inputs/qliksense_sessions/testcases/*/datagrams.txt",
		"plugins/inputs/qliksense_sessions/parsers/log4net/testdata/fuzz/*/*"} {
		found, err := filepath.Glob(repoFile(pattern))
		require.NoError(t, err)
		require.NotEmpty(t, found, pattern)
		files = append(files, found...)
	}
	var all [][]byte
	accepted := 0
	for _, path := range files {
		payloads := recordedPayloads(t, path)
		all = append(all, payloads...)
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			every := 1 // after each payload; the sample day's 4,000 every few
			if len(payloads) > 500 {
				every = 7
			}
			for _, rate := range []float64{0, 2, 50, 5000} {
				lockstep(t, payloads, rate, every, 1)
			}
		})
	}
	for _, p := range all {
		if _, status := replay.ReadPayload(p); status == replay.Accepted {
			accepted++
		}
	}
	require.Greater(t, accepted, 1000)
	for _, rate := range []float64{0, 100} {
		lockstep(t, all, rate, 11, 2)
	}
}

// Payloads at the edges of the reading rules that the recorded files do not
// all have: "(null)" names, blanks that trim and those that do not, control
// characters, markers and commands in other cases or near misses, app ids
// hidden in contexts, session ids in odd messages, host names that are none.
func TestReplayModelAgreesOnEdgePayloads(t *testing.T) {
	const guid = "3f1d2c4b-5a6e-4f70-8a9b-0c1d2e3f4a5b"
	payloads := []string{
		"SENSE1;Start session;(null);anna", "SENSE1;Start session;LAB;(null)", "SENSE1;Start session;LAB;(NULL)",
		"SENSE1;Start session;LAB; (null) ", "(null);Start session;LAB;anna", "SENSE1;(null);LAB;anna",
		"\u00a0SENSE1;Start session;LAB;anna\u3000", "SENSE1;Start session;LAB;anna\v", "SENSE1;Start session;\vLAB;anna",
		"SENSE1;Start session;LAB;an\u0085na", "SENSE1;Start session;LAB;anna\u0085", "SENSE1;Start session;LAB;an\x7fna",
		"SENSE1;START SESSION;lab;ANNA", "SENSE1;Start  session;LAB;anna", "SENSE1; Stop session ;LAB;anna",
		"SENSE1;Start session;LAB;anna;", "SENSE1;Start session;LAB", ";;;", "\r\n\t ", "",
		"sense_1.corp-x;Start session;LAB;bob", "SENSE 1;Start session;LAB;bob", "SENSE1/x;Start session;LAB;bob",
		strings.Repeat("s", 253) + ";Start session;LAB;bob", strings.Repeat("s", 254) + ";Start session;LAB;bob",
		"/QSEOW-PROXY-SESSION/;SENSE2;Start session;LAB;cleo;AppAccess;/hub/;m", "/proxy-\u017fession/;SENSE2;Start session;LAB;cleo;o;c;m",
		"/qseow-proxy-sess\u0130on/;SENSE2;Start session;LAB;cleo;o;c;m", "/qseow-proxy-session/ ;SENSE2;Start session;LAB;cleo;o;c;m",
		"/qseow-proxy-session/;SENSE2;Start session;LAB;cleo;o;c", "/qseow-proxy-session/;SENSE2;Start session;LAB;cleo;o;c;m;with;more;'",
		"/qseow-proxy-connection/;SENSE2;Open connection;LAB;cleo;o;/app/" + guid + "?x;connection Opened for session ' s1 '",
		"/qseow-proxy-connection/;SENSE2;Open connection;LAB;cleo;o;/app/app/" + strings.ToUpper(guid) + ";for session 's2'",
		"/qseow-proxy-connection/;SENSE2;Open connection;LAB;cleo;o;/app/" + guid + "f;for session 's3'",
		"/qseow-proxy-connection/;SENSE2;Open connection;LAB;cleo;o;/sense/app/" + guid + "/sheet/x;for session 's4",
		"/qseow-proxy-connection/;SENSE2;Open connection;LAB;cleo;o;/app/" + guid + ";line\r\nbreak\tfor session 's5'",
		"/qseow-proxy-connection/;SENSE2;Open connection;LAB;cleo;o;/app/" + guid + ";bell\a for session 's6'",
		"/qseow-proxy-connection/;SENSE2;Close connection;lab;CLEO;o;/app/" + strings.ToUpper(guid) + ";for session 's1'",
		"/qseow-proxy-connection/;SENSE2;Close connection;LAB;cleo;o;/APP/" + guid + ";for session 's2'",
		"/qseow-proxy-session/;sense2;Stop session;LAB;cleo;o;/hub/;m", "/qseow-proxy-session/;SENSE2;Stop session;LAB;cleo;o;/hub/;m",
	}
	raw := make([][]byte, 0, len(payloads))
	for _, p := range payloads {
		raw = append(raw, []byte(p))
	}
	for _, rate := range []float64{0, 1, 1000} {
		lockstep(t, raw, rate, 1, 4)
	}
}

// Every byte of Windows-1252 in a payload that is not UTF-8 reads alike.
func TestReplayReadsANSILikeThePlugin(t *testing.T) {
	var parser log4net.Parser
	var parsed event.Parsed
	for c := byte(0x80); c >= 0x80; c++ {
		for _, p := range [][]byte{
			append(append([]byte("SENSE1;Start session;LAB;j"), c), "rg"...),
			append(append([]byte("/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/hub/;for session 's"), c, c), "'"...),
		} {
			parser.Parse(p, &parsed)
			ev, status := replay.ReadPayload(p)
			require.Equal(t, asReplay(parsed.Status), status, "%q: %s", p, parsed.Reason)
			if status == replay.Accepted {
				require.True(t, parsed.ANSI)
				sameEvent(t, &parsed.Event, &ev, fmt.Sprintf("%q", p))
			}
		}
	}
}

// pluginLogs reads a host's files as the plugin's audit-log parser does.
func pluginLogs(t *testing.T, dir string, files []string) (events []event.Event, ignored, malformed int) {
	t.Helper()
	for _, name := range files {
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		r := bufio.NewReader(f)
		var header *auditlog.Header
		for {
			line, err := r.ReadBytes('\n') // a new slice each time: the events may alias it
			if len(line) > 0 {
				if header == nil || auditlog.IsHeader(line) {
					header, err = auditlog.ParseHeader(line)
					require.NoError(t, err, name)
					continue
				}
				var ev event.Event
				switch status, _ := header.Parse(line, &ev); status {
				case auditlog.Accepted:
					events = append(events, ev)
				case auditlog.Ignored:
					ignored++
				default:
					malformed++
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
		}
		require.NoError(t, f.Close())
	}
	return events, ignored, malformed
}

// sameLogDir requires the replay's reading and Model of a log folder to
// match the plugin's parser and state, row by row and after every row.
func sameLogDir(t *testing.T, dir string, exclude ...string) replay.Expected {
	t.Helper()
	logs, err := replay.ReadLogDir(dir)
	require.NoError(t, err)
	type row struct {
		plugin event.Event
		model  replay.LogEvent
	}
	var rows []row
	for _, hl := range logs {
		events, ignored, malformed := pluginLogs(t, dir, hl.Files)
		require.Equal(t, ignored, hl.Ignored, hl.Host)
		require.Equal(t, malformed, hl.Malformed, hl.Host)
		require.Len(t, hl.Events, len(events), hl.Host)
		for i := range events {
			what := fmt.Sprintf("%s row %d", hl.Host, i)
			sameEvent(t, &events[i], &hl.Events[i].Event, what)
			require.Equal(t, events[i].Origin, hl.Events[i].Origin, what)
			require.True(t, events[i].Time.Equal(hl.Events[i].Time), "%s: %s, want %s", what, hl.Events[i].Time, events[i].Time)
			_, want := events[i].Time.Zone()
			_, got := hl.Events[i].Time.Zone()
			require.Equal(t, want, got, what)
			if !slices.ContainsFunc(exclude, func(name string) bool { return strings.EqualFold(name, events[i].UserName()) }) {
				rows = append(rows, row{events[i], hl.Events[i]})
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return a.plugin.Time.Compare(b.plugin.Time) })
	s := state.New(state.Config{ReorderWindow: state.DefaultReorderWindow})
	m := replay.NewModel(replay.ReorderWindow)
	for i := range rows {
		s.Apply(&rows[i].plugin, rows[i].plugin.Time)
		m.Apply(&rows[i].model.Event, rows[i].model.Time)
		if i%5 == 0 {
			require.Equal(t, pluginSet(s, i+1), m.Snapshot(i+1), "after row %d", i)
		}
	}
	want := pluginSet(s, len(rows))
	require.Equal(t, want, m.Snapshot(len(rows)))
	got, err := replay.ExpectFromLogDir(dir, exclude...)
	require.NoError(t, err)
	require.Equal(t, want, got)
	return want
}

// Log folders the replay writes (rotated, with rows to ignore, races and
// sessions that began before we listened, at several clock rates), and the
// recorded log files of the parser's and the log file source's tests.
func TestReplayModelAgreesOnLogFiles(t *testing.T) {
	start := time.Date(2026, 2, 25, 8, 15, 12, 123_000_000, time.FixedZone("CET", 3600))
	for i, rate := range []float64{1, 100, 2000} {
		for seed := uint64(1); seed <= 3; seed++ {
			dir := t.TempDir()
			clock := replay.SimClock{Start: start, Rate: rate}
			cfg := replay.SimConfig{Users: 40, Directories: 2, Servers: 3, Events: 3000, Seed: seed + uint64(i)*10, Format: "sos",
				Race: 0.1 * float64(seed-1), Preexisting: 10, WindowEvents: replay.WindowEvents(rate),
				Exclude: []string{`INTERNAL\sa_scheduler`}}
			sim, err := replay.NewSimulation(cfg)
			require.NoError(t, err)
			w, err := replay.NewLogWriter(replay.LogConfig{Dir: dir, RotateBytes: 32 << 10, Noise: 0.1, Seed: seed})
			require.NoError(t, err)
			n := 0
			for ev, ok := sim.Next(); ok; ev, ok = sim.Next() {
				require.NoError(t, w.Write(&ev, clock.At(n)))
				n++
			}
			require.NoError(t, w.Close())
			require.NotZero(t, sameLogDir(t, dir, cfg.Exclude...).ActiveUsers)
			sameLogDir(t, dir)
		}
	}

	var recorded []string
	for _, pattern := range []string{"plugins/inputs/qliksense_sessions/parsers/auditlog/testdata/*.txt",
		"plugins/inputs/qliksense_sessions/sources/logfile/testdata/*.txt"} {
		found, err := filepath.Glob(repoFile(pattern))
		require.NoError(t, err)
		require.NotEmpty(t, found, pattern)
		recorded = append(recorded, found...)
	}
	for _, path := range recorded {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, replay.LogFileName("HOST")), data, 0o600))
			if _, err := auditlog.ParseHeader(firstLine(data)); err != nil {
				_, err := replay.ReadLogDir(dir)
				require.Error(t, err, "the plugin's parser refuses the header")
				return
			}
			sameLogDir(t, dir)
		})
	}
}

func firstLine(data []byte) []byte {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return line
}

// A quirk of the plugin that the Model mirrors knowingly (see its
// stopLast): when a Stop without an id ends a user's last session on a
// server while a ghost record is left, only the first record's connections
// drain; the other's stay counted in their app, the user gone. Fixing it in
// the state changes what the plugin reports: change the Model with it.
func TestGhostsConnectionsStayCountedInThePlugin(t *testing.T) {
	const appY = "66666666-7777-4888-8999-aaaaaaaaaaaa"
	payloads := []string{
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;Start session for user 'LAB\anna'`,
		`/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/app/11111111-2222-4333-8444-555555555555;connection Opened for session 's1'`,
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;Start session for user 'LAB\anna'`,
		`/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/app/` + appY + `;connection Opened for session 's2'`,
		`/qseow-proxy-session/;SENSE1;Stop session;LAB;anna;AppAccess;/hub/;Stop session for user 'LAB\anna'`,
		`/qseow-proxy-session/;SENSE1;Stop session;LAB;anna;AppAccess;/hub/;Stop session for user 'LAB\anna'`,
	}
	s := state.New(state.Config{ReorderWindow: state.DefaultReorderWindow})
	m := replay.NewModel(replay.ReorderWindow)
	at := time.Unix(1e9, 0)
	var ev event.Event
	for _, p := range payloads {
		status, reason := log4net.Parse([]byte(p), &ev)
		require.Equal(t, log4net.Accepted, status, reason)
		s.Apply(&ev, at)
		mev, _ := replay.ReadPayload([]byte(p))
		m.Apply(&mev, at)
		at = at.Add(time.Second)
	}
	s.Sweep(at.Add(time.Minute))
	m.Sweep(at.Add(time.Minute))
	plugin := pluginSet(s, len(payloads))
	require.Equal(t, plugin, m.Snapshot(len(payloads)))
	require.Zero(t, plugin.ActiveUsers)
	require.Equal(t, []replay.AppExpected{{App: appY, ActiveUsers: 1, ActiveConnections: 1, Users: []string{`LAB\anna`}}}, plugin.Apps)
}

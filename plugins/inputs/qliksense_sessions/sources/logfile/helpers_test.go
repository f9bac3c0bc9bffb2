package logfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// header is the header row of a proxy audit activity log as Qlik documents
// its columns, with a byte order mark and CR LF.
const header = "\ufeffSequence#\tProductVersion\tTimestamp\tHostname\tId\tDescription\tProxySessionId\tProxyPackageId\tRequestSequenceId\t" +
	"UserDirectory\tUserId\tObjectId\tObjectName\tService\tOrigin\tContext\tCommand\tResult\tMessage\tId2\r\n"

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.FixedZone("", 3600))

// row writes a data row: seq numbers the row (unique within a test), host
// is the proxy, command e.g. "Start session", user the user id in LAB.
func row(seq int, host, command, user string) string {
	return rowAt(seq, host, t0.Add(time.Duration(seq)*time.Millisecond), command, user)
}

// rowAt writes a data row stamped at, with at's UTC offset.
func rowAt(seq int, host string, at time.Time, command, user string) string {
	sid := fmt.Sprintf("%08x-7d35-4c38-a7a2-0a6f5b3e9d01", len(user)*7919+int(user[0]))
	return fmt.Sprintf("%d\t14.5.1.0\t%s\t%s\t%08x-1b2c-4d5e-8f90-a1b2c3d40001\tCommand=%s;Result=0;ResultText=Success\t%s\t0\t0\tLAB\t%s\t"+
		"Not available\tNot available\tProxy\tAppAccess\t/hub/\t%s\t0\t%s for user 'LAB\\%s'\t%08x-1b2c-4d5e-8f90-a1b2c3d40001\r\n",
		seq, at.Format("20060102T150405.000-0700"), host, seq, command, sid, user, command, command, user, seq)
}

// rows writes rows from..to (inclusive) of alternating starts and stops.
func rows(host string, from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		cmd := "Start session"
		if i%2 == 0 {
			cmd = "Stop session"
		}
		b.WriteString(row(i, host, cmd, "anna"))
	}
	return b.String()
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o750))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func appendFile(t testing.TB, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// got is a row as the handler saw it, copied.
type got struct {
	Path       string
	Key        string // Hostname#Sequence, or the line for rows without them
	Status     event.Status
	Reason     string
	Command    event.Command
	User       string
	SessionID  string
	Time       time.Time
	Offset     int64
	Rebuilding bool
}

func (g got) String() string {
	return fmt.Sprintf("%s %s %d %q rebuilding=%v", filepath.Base(g.Path), g.Key, g.Status, g.Reason, g.Rebuilding)
}

// harness runs a Source and records what it delivers.
type harness struct {
	t      testing.TB
	src    *Source
	cancel context.CancelFunc
	done   chan error
	log    *testLog

	mu  sync.Mutex
	got []got
}

func start(t testing.TB, cfg Config) *harness {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.GlobInterval == 0 {
		cfg.GlobInterval = MinGlobInterval
	}
	h := &harness{t: t, done: make(chan error, 1), log: &testLog{t: t}}
	if cfg.Log == nil {
		cfg.Log = h.log
	}
	src, err := New(cfg)
	require.NoError(t, err)
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- src.Run(ctx, h.handle) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) handle(r Row) {
	g := got{Path: r.Path, Status: r.Status, Reason: r.Reason, Offset: r.Offset, Rebuilding: r.Rebuilding}
	g.Key = key(r.Line)
	if r.Event != nil {
		g.Command, g.User, g.SessionID, g.Time = r.Event.Command, r.Event.UserName(), r.Event.SessionID, r.Event.Time
	} else if r.Status == event.Accepted {
		h.t.Errorf("accepted row without an event: %q", r.Line)
	}
	h.mu.Lock()
	h.got = append(h.got, g)
	h.mu.Unlock()
}

func (h *harness) rows() []got {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]got(nil), h.got...)
}

func (h *harness) keys() []string {
	var keys []string //nolint:prealloc // nil when no rows came, as the tests' want lists are
	for _, g := range h.rows() {
		keys = append(keys, g.Key)
	}
	return keys
}

// waitRows waits until n rows came, and fails if more came.
func (h *harness) waitRows(n int) []got {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.got) >= n
	}, 10*time.Second, time.Millisecond, "waiting for %d rows", n)
	rows := h.rows()
	require.Len(h.t, rows, n, "more rows than expected: %v", rows)
	return rows
}

func (h *harness) waitRebuilt() {
	h.t.Helper()
	select {
	case <-h.src.Rebuilt():
	case <-time.After(10 * time.Second):
		h.t.Fatal("rebuild did not finish")
	}
}

// waitRead waits until the source has read n bytes in all.
func (h *harness) waitRead(n int64) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.src.Stats().Bytes >= uint64(n) }, 10*time.Second, time.Millisecond,
		"waiting for %d bytes read", n)
}

// waitPolls waits until the source has done n more rounds of polling the
// live files than when it was called: the round under way, if any, has
// ended, and the last n-1 began after the call, so they saw the files as
// the test left them.
func (h *harness) waitPolls(n uint64) {
	h.t.Helper()
	want := h.src.polls.Load() + n
	require.Eventually(h.t, func() bool { return h.src.polls.Load() >= want }, 10*time.Second, time.Millisecond,
		"waiting for %d polls", n)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		require.NoError(h.t, err)
	case <-time.After(10 * time.Second):
		h.t.Error("Run did not return")
	}
}

// restartReadsOnlyNew stops h and starts another source with cfg from h's
// positions; once it has rebuilt, row seq of SENSE1 is appended to live:
// that row alone comes, nothing h had delivered comes again.
func restartReadsOnlyNew(t *testing.T, h *harness, cfg Config, live string, seq int) {
	t.Helper()
	h.stop()
	cfg.Resume = h.src.Positions()
	next := start(t, cfg)
	next.waitRebuilt()
	appendFile(t, live, rows("SENSE1", seq, seq))
	next.waitRows(1)
	require.Equal(t, keyRange("SENSE1", seq, seq), next.keys())
}

// keyRange lists the keys host#from..host#to.
func keyRange(host string, from, to int) []string {
	var keys []string
	for i := from; i <= to; i++ {
		keys = append(keys, fmt.Sprintf("%s#%d", host, i))
	}
	return keys
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// testLog records log lines.
type testLog struct {
	t     testing.TB
	mu    sync.Mutex
	lines []string
}

func (l *testLog) addf(level, format string, args ...any) {
	line := level + " " + fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	l.t.Log(line)
}

func (l *testLog) Errorf(format string, args ...any) { l.addf("E!", format, args...) }
func (l *testLog) Warnf(format string, args ...any)  { l.addf("W!", format, args...) }
func (l *testLog) Infof(format string, args ...any)  { l.addf("I!", format, args...) }
func (l *testLog) Debugf(format string, args ...any) { l.addf("D!", format, args...) }

func (l *testLog) contains(level, substr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.HasPrefix(line, level) && strings.Contains(line, substr) {
			return true
		}
	}
	return false
}

// linesWith counts the log lines at level that hold substr.
func (l *testLog) linesWith(level, substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.HasPrefix(line, level) && strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

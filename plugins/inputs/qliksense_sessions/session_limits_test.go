package qliksense_sessions

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
)

func openPayload(server, dir, user, session string) string {
	return fmt.Sprintf(`/qseow-proxy-connection/;%s;Open connection;%s;%s;AppAccess;/hub/;connection Opened for session '%s'`, server, dir, user, session)
}

// warnLines records the lines of the throttled log (which calls Warn).
type warnLines struct {
	testutil.Logger
	mu    sync.Mutex
	lines []string
}

func (l *warnLines) Warn(args ...interface{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(args...))
}

func (l *warnLines) containing(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// One user's connections naming ever new sessions open no more than
// max_user_sessions (100 by default) sessions, and session ids longer
// than a proxy's are refused; both are counted in qliksense_sessions_internal
// and logged once a minute.
func TestOneUsersSessionsAreBounded(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	logger := &warnLines{}
	plugin.Log = logger
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)
	const sessions, longIDs = 500, 20
	for i := range sessions {
		send(t, conn, openPayload("SENSE1", "LAB", "mallory", fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i)))
	}
	for i := range longIDs {
		send(t, conn, openPayload("SENSE1", "LAB", "eve", fmt.Sprintf("%0129d", i)))
	}
	waitForDatagrams(t, plugin, sessions+longIDs)

	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	internal := lastMetric(&gathered, "qliksense_sessions_internal")
	require.NotNil(t, internal)
	require.Equal(t, int64(sessions+longIDs), internal.Fields["events_accepted"])
	require.Equal(t, int64(100), internal.Fields["tracked_sessions"], "mallory's sessions stop at the default max_user_sessions")
	require.Equal(t, int64(1), internal.Fields["tracked_users"], "eve's events were all refused")
	require.Equal(t, int64(sessions-100), internal.Fields["events_refused_max_user_sessions"])
	require.Equal(t, int64(longIDs), internal.Fields["events_refused_session_id_length"])
	require.Equal(t, int64(0), internal.Fields["events_refused_max_users"])

	perUser := logger.containing("max_user_sessions = 100")
	require.Len(t, perUser, 1, "logged once a minute: %q", logger.lines)
	require.Contains(t, perUser[0], `LAB\mallory on SENSE1`)
	longID := logger.containing("session id of 129 bytes")
	require.Len(t, longID, 1, "logged once a minute: %q", logger.lines)
	require.Contains(t, longID[0], `LAB\eve on SENSE1`)
}

// max_user_sessions is 100 by default and takes 1 to the state file's
// limit of a record's sessions; the error names the option.
func TestMaxUserSessionsConfig(t *testing.T) {
	plugin := newTestPlugin(t)
	require.NoError(t, plugin.Init())
	require.Equal(t, state.DefaultMaxUserSessions, plugin.MaxUserSessions)
	require.Equal(t, 100, plugin.stateConfig().MaxUserSessions)
	require.Equal(t, 100, plugin.pipelineConfig.State.MaxUserSessions)
	for _, good := range []int{1, statefile.MaxSessions} {
		q := newTestPlugin(t)
		q.MaxUserSessions = good
		require.NoError(t, q.Init())
	}
	for _, bad := range []int{0, -1, statefile.MaxSessions + 1} {
		q := newTestPlugin(t)
		q.MaxUserSessions = bad
		err := q.Init()
		require.Error(t, err)
		require.Regexp(t, `^max_user_sessions -?\d+ is out of range: give a number from 1 to 100000;`, err.Error())
	}

	cfg := config.NewConfig()
	require.NoError(t, cfg.LoadConfigData([]byte("[[inputs.qliksense_sessions]]\n  max_user_sessions = 7\n"), config.EmptySourcePath))
	require.Equal(t, 7, cfg.Inputs[0].Input.(*QlikSenseSessions).MaxUserSessions)
}

// A state file is held to max_user_sessions: with a lower limit than
// the run that wrote it, the records past it are skipped, and the warning
// names the limit; session ids over 128 bytes are dropped, their sessions
// kept.
func TestStateFileIsHeldToMaxUserSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	now := time.Now().UTC().Format(time.RFC3339)
	record := func(server, user string, sessions int, known string) string {
		return fmt.Sprintf(`{"server":%q,"directory":"LAB","user_id":%q,"sessions":%d,"first_seen":%q,"last_seen":%q,"known":[%s]}`,
			server, user, sessions, now, now, known)
	}
	data := `{"version":1,"saved_at":"` + now + `","sessions":[` + strings.Join([]string{
		record("SENSE1", "anna", 8, ""),
		record("SENSE2", "anna", 3, ""), // 11 of anna's sessions: past the limit
		record("SENSE1", "bob", 11, ""),
		record("SENSE1", "carl", 2, `{"id":"`+strings.Repeat("x", 129)+`"},{"id":"c2"}`),
	}, ",") + "]}"
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	plugin.StateFile = path
	plugin.MaxUserSessions = 10
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	site := gatherSummaries(t, plugin)[0]
	require.Equal(t, int64(10), site.Fields()["active_sessions"])
	require.Equal(t, `["LAB\\anna","LAB\\carl"]`, site.Fields()["users"])
	var warnings []string
	for _, w := range log.Warnings() {
		if strings.Contains(w, "State file") {
			warnings = append(warnings, w)
		}
	}
	require.Len(t, warnings, 2)
	require.Contains(t, warnings[0], "2 records skipped: 2 with more sessions than max_user_sessions, alone or with the user's records on other servers "+
		"(max_user_sessions = 10); restoring the other 2")
	require.Contains(t, warnings[1], "dropped 1 session ids with an empty or control character id, an id over 128 bytes,")
}

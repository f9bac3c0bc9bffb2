package qliksense_sessions

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// stateFilePlugin is a test plugin with its state file at path, and its
// log captured.
func stateFilePlugin(t *testing.T, path string) (*QlikSenseSessions, *testutil.CaptureLogger) {
	t.Helper()
	plugin := newTestPlugin(t)
	log := &testutil.CaptureLogger{}
	plugin.Log = log
	plugin.StateFile = path
	return plugin, log
}

// writeStateFile writes a state file in a new folder and returns its path.
func writeStateFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// stateFileOf is a state file of version 1 with these records.
func stateFileOf(savedAt string, records ...string) string {
	return `{"version":1,"saved_at":"` + savedAt + `","sessions":[` + strings.Join(records, ",") + "]}"
}

// stateRecord is a state file record of LAB\user's sessions on SENSE1,
// first and last seen at seen.
func stateRecord(user, sessions, seen string) string {
	return `{"server":"SENSE1","directory":"LAB","user_id":"` + user + `","sessions":` + sessions + `,"first_seen":"` + seen + `","last_seen":"` + seen + `"}`
}

func TestStateFileAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first, _ := stateFilePlugin(t, path)
	var acc testutil.Accumulator
	conn := startPlugin(t, first, &acc)
	send(t, conn,
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`,
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`,
		`/qseow-proxy-session/;SENSE2;Start session;CORP;bob;AppAccess;/hub/;m`,
	)
	waitForSessions(t, first, 3)
	before := gatherSummaries(t, first)
	first.Stop() // saves
	_, err := os.Stat(path)
	require.NoError(t, err)

	second, _ := stateFilePlugin(t, path)
	startPlugin(t, second, &acc)
	testutil.RequireMetricsEqual(t, before, gatherSummaries(t, second), testutil.IgnoreTime())
}

func TestStateFileSavedPeriodically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	plugin, _ := stateFilePlugin(t, path)
	plugin.StateSaveInterval = config.Duration(20 * time.Millisecond)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)
	send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(path)
		return err == nil && len(data) > 0 && strings.Contains(string(data), `"user_id":"anna"`)
	}, 5*time.Second, 5*time.Millisecond, "state file was not written while running")
}

func TestUnreadableStateFileIsKeptAside(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":     `{"version":1,"sessions":[{"ser`,
		"newer version": `{"version":2,"saved_at":"2027-01-01T00:00:00Z","servers":{}}`,
		"not ours":      `[{"server":"SENSE1"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			path := writeStateFile(t, content)
			plugin, log := stateFilePlugin(t, path)
			var acc testutil.Accumulator
			conn := startPlugin(t, plugin, &acc)
			site := gatherSummaries(t, plugin)[0]
			require.Equal(t, int64(0), site.Fields()["active_users"])

			// The file was moved aside before anything could replace it, and the
			// error says where it went.
			copies, err := filepath.Glob(path + ".unreadable-*")
			require.NoError(t, err)
			require.Len(t, copies, 1)
			require.Regexp(t, `\.unreadable-\d{8}T\d{6}Z$`, copies[0])
			kept, err := os.ReadFile(copies[0])
			require.NoError(t, err)
			require.Equal(t, content, string(kept))
			errs := log.Errors()
			require.Len(t, errs, 1)
			require.Contains(t, errs[0], strconv.Quote(copies[0]))
			require.Contains(t, errs[0], "starting with no sessions")

			// The plugin goes on and writes a new file; the copy stays.
			send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
			waitForDatagrams(t, plugin, 1)
			plugin.Stop()
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Contains(t, string(data), `"user_id":"anna"`)
			kept, err = os.ReadFile(copies[0])
			require.NoError(t, err)
			require.Equal(t, content, string(kept))
		})
	}
}

func TestMissingStateFileIsAFirstRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	plugin, log := stateFilePlugin(t, path)
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	infos := linesWith(logged(log, testutil.LevelInfo), "state")
	require.Equal(t, []string{"No state file yet at " + strconv.Quote(path) + "; starting empty"}, infos)
	require.Empty(t, log.Errors())
}

func TestStateFileRecordsAreChecked(t *testing.T) {
	// Two records of MaxInt64 sessions once restored as -2 sessions.
	now := time.Now().UTC().Format(time.RFC3339)
	path := writeStateFile(t, stateFileOf(now,
		stateRecord("anna", "2", now), stateRecord("huge1", "9223372036854775807", now), stateRecord("huge2", "9223372036854775807", now)))
	plugin, log := stateFilePlugin(t, path)
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	site := gatherSummaries(t, plugin)[0]
	require.Equal(t, int64(2), site.Fields()["active_sessions"])
	require.Equal(t, `["LAB\\anna"]`, site.Fields()["users"])
	warnings := linesWith(log.Warnings(), "State file")
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "2 records skipped: 2 with sessions not a whole number from 1 to 100000; restoring the other 1")
}

func TestInitChecksTheStateFileFolder(t *testing.T) {
	dir := t.TempDir()
	notAFolder := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notAFolder, nil, 0o600))
	tests := []struct {
		name   string
		path   string
		errMsg []string
	}{
		{"missing folder", filepath.Join(dir, "no", "such", "state.json"),
			[]string{"state_file", `folder "` + filepath.Join(dir, "no", "such") + `" does not exist`, "create it, or point state_file elsewhere"}},
		{"folder is a file", filepath.Join(notAFolder, "state.json"), []string{"state_file", "is not a folder"}},
		{"file is a folder", dir, []string{"state_file", "is a folder", "qliksense_sessions.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin, _ := stateFilePlugin(t, tt.path)
			err := plugin.Init()
			for _, msg := range tt.errMsg {
				require.ErrorContains(t, err, msg)
			}
		})
	}

	// A relative path is shown as the folder it resolves to.
	plugin, _ := stateFilePlugin(t, filepath.Join("no_such_folder", "state.json"))
	abs, err := filepath.Abs("no_such_folder")
	require.NoError(t, err)
	require.ErrorContains(t, plugin.Init(), strconv.Quote(abs))

	// A writable folder passes and keeps no probe file.
	plugin, _ = stateFilePlugin(t, filepath.Join(dir, "state.json"))
	require.NoError(t, plugin.Init())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1) // "file"
}

func TestInitChecksStateFilePermissions(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write and read anything")
	}
	readOnly := t.TempDir()
	require.NoError(t, os.Chmod(readOnly, 0o500))                       //nolint:gosec // G302: a folder the plugin must not write to
	t.Cleanup(func() { require.NoError(t, os.Chmod(readOnly, 0o700)) }) //nolint:gosec // G302: writable again, for t.TempDir to remove
	plugin, _ := stateFilePlugin(t, filepath.Join(readOnly, "state.json"))
	err := plugin.Init()
	require.ErrorContains(t, err, "cannot create files in folder "+strconv.Quote(readOnly))
	require.ErrorContains(t, err, "write access")

	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o200))
	plugin, _ = stateFilePlugin(t, path)
	require.ErrorContains(t, plugin.Init(), "cannot be read")
}

func TestFailedSaveAtShutdownIsLogged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.Mkdir(dir, 0o700))
	plugin, log := stateFilePlugin(t, filepath.Join(dir, "state.json"))
	plugin.StateSaveInterval = config.Duration(10 * time.Millisecond)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)

	// The folder goes away: the periodic saves fail, and their log line is
	// throttled to one a minute.
	require.NoError(t, os.RemoveAll(dir))
	send(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	require.Eventually(t, func() bool { return plugin.pipeline.Counters().StateSaveErrors >= 2 }, 5*time.Second, time.Millisecond)
	require.Len(t, linesWith(log.Warnings(), "Saving state_file failed"), 1)
	require.Empty(t, log.Errors())

	// The last save's failure is logged all the same.
	plugin.Stop()
	errs := log.Errors()
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "Saving state_file at shutdown failed")
	require.Contains(t, errs[0], "1 sessions open now")
}

func TestStateFileDropsOldSessionsOnLoad(t *testing.T) {
	now := time.Now().UTC().Format(time.RFC3339)
	path := writeStateFile(t, stateFileOf(now, stateRecord("fresh", "1", now), stateRecord("stale", "1", "2020-01-01T00:00:00Z")))
	plugin, _ := stateFilePlugin(t, path)
	plugin.SessionMaxAge = config.Duration(time.Hour)
	var acc testutil.Accumulator
	startPlugin(t, plugin, &acc)
	require.Equal(t, `["LAB\\fresh"]`, gatherSummaries(t, plugin)[0].Fields()["users"])
}

func TestSessionMaxAgeExpiresIdleSessions(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.SessionMaxAge = config.Duration(300 * time.Millisecond)
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	require.Eventually(t, func() bool {
		return plugin.pipeline.ActiveUsers() == 0 && plugin.pipeline.StateCounters().SessionsExpired == 1
	}, 10*time.Second, 10*time.Millisecond)
}

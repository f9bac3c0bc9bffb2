package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
)

func newPersistPipeline(path string, cfg state.Config) *Pipeline {
	log := testutil.Logger{}
	return New(Config{State: cfg, StateFile: path, StateSaveInterval: time.Hour, Log: log, Throttle: throttle.NewLog(log, time.Minute)})
}

// A save killed midway (SIGKILL) leaves its temporary file behind: the next
// start removes those of the state file's own pattern, and nothing else
// (issue 21).
func TestRestoreRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	now := time.Now()
	record := state.Record{Server: "SENSE1", Directory: "LAB", UserID: "anna", Sessions: 1, FirstSeen: now, LastSeen: now}
	require.NoError(t, statefile.Save(path, []state.Record{record}, now))
	stale := []string{".state.json.tmp-123456", ".state.json.tmp-9"}
	others := []string{".other.json.tmp-1", "state.json.tmp-1", ".state.json.tmp", "notes.txt"}
	for _, name := range stale {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("{"), 0o600))
	}
	for _, name := range others {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("{"), 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, ".state.json.tmp-dir"), 0o700))
	kept := append([]string{"state.json", ".state.json.tmp-dir"}, others...)

	p := newPersistPipeline(path, state.Config{})
	p.Restore(now)
	require.Equal(t, 1, p.ActiveSessions())
	for _, name := range stale {
		require.NoFileExists(t, filepath.Join(dir, name))
	}
	for _, name := range kept {
		_, err := os.Lstat(filepath.Join(dir, name))
		require.NoError(t, err, name)
	}
}

// Records that max_users or max_servers refuse at restore are named as
// such, and the file is kept aside before the next save drops them for good
// (issue 21).
func TestRestoreNamesTheLimitsAndKeepsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	now := time.Now()
	records := make([]state.Record, 0, 11)
	for i := range 10 {
		user := fmt.Sprintf("user%d", i)
		records = append(records, state.Record{Server: "SENSE1", Directory: "LAB", UserID: user, Sessions: 1, FirstSeen: now, LastSeen: now})
	}
	records = append(records, state.Record{Server: "SENSE2", Directory: "LAB", UserID: "user0", Sessions: 1, FirstSeen: now, LastSeen: now})
	require.NoError(t, statefile.Save(path, records, now))

	log := &testutil.CaptureLogger{}
	p := New(Config{
		State: state.Config{MaxUsers: 4, MaxServers: 1}, StateFile: path, StateSaveInterval: time.Hour, Log: log, Throttle: throttle.NewLog(log, time.Minute),
	})
	p.Restore(now)
	require.Equal(t, 4, p.ActiveUsers())
	warnings := strings.Join(log.Warnings(), "\n")
	require.Contains(t, warnings, "6 records refused by max_users (4)")
	require.Contains(t, warnings, "1 record refused by max_servers (1)")
	require.NotContains(t, warnings, "without server, user or sessions")
	matches, err := filepath.Glob(path + ".over-limits-*")
	require.NoError(t, err)
	require.Len(t, matches, 1, "the file is kept aside")
	require.Contains(t, warnings, matches[0])
	kept, err := statefile.Load(matches[0])
	require.NoError(t, err)
	require.Len(t, kept.Sessions, 11)

	// Within the limits, nothing is kept aside.
	require.NoError(t, statefile.Save(path, records[:3], now))
	p = newPersistPipeline(path, state.Config{MaxUsers: 4})
	p.Restore(now)
	matches, err = filepath.Glob(path + ".over-limits-*")
	require.NoError(t, err)
	require.Len(t, matches, 1)
	require.FileExists(t, path)
}

package pipeline

import (
	"os"
	"path/filepath"
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

package statefile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/periods"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// TestPeriodsRoundTrip: the periods section is saved and loaded with the
// sessions; a file without it (every file before it) loads with none.
func TestPeriodsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	at := time.Date(2026, 11, 24, 7, 55, 0, 0, time.UTC)
	saved := &periods.Saved{Version: periods.SavedVersion, Zone: "UTC", Clock: at,
		Open: []periods.SavedPeriod{{Period: "day", Server: "SENSE1", ServerKey: "sense1", Start: at.Truncate(24 * time.Hour),
			PeakUsers: 3, PeakSessions: 4, PeakAt: at, SessionsStarted: 5}},
		Users: []periods.SavedUser{{User: `lab\anna`, Day: "2026-11-24", InHour: true,
			Servers: []periods.SavedMark{{Server: "sense1", Day: "2026-11-24"}}}},
		ServerNames: map[string]string{"sense1": "SENSE1"}}
	record := state.Record{Server: "SENSE1", Directory: "LAB", UserID: "anna", Sessions: 1, FirstSeen: at, LastSeen: at}
	require.NoError(t, SaveFile(path, File{SavedAt: at, Sessions: []state.Record{record}, Periods: saved}))
	f, err := loadAt(path, at)
	require.NoError(t, err)
	require.Equal(t, saved, f.Periods)
	require.Empty(t, f.PeriodsUnreadable)

	f, err = Load("testdata/v1.json")
	require.NoError(t, err)
	require.Nil(t, f.Periods)
}

// TestCorruptPeriodsCostThePeriodsOnly: a periods section that does not
// decode is reported, and the sessions are read still.
func TestCorruptPeriodsCostThePeriodsOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	data := `{"version": 1, "saved_at": "2026-11-24T07:55:00Z", "sessions": [{"server": "SENSE1", "directory": "LAB", "user_id": "anna",
		"sessions": 1, "first_seen": "2026-11-24T07:55:00Z", "last_seen": "2026-11-24T07:55:00Z"}], "periods": {"version": "one"}}`
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	f, err := loadAt(path, time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Len(t, f.Sessions, 1)
	require.Nil(t, f.Periods)
	require.Contains(t, f.PeriodsUnreadable, "its periods section is corrupt")
}

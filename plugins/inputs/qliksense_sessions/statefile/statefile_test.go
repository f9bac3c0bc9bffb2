package statefile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first := time.Date(2026, 11, 24, 7, 55, 0, 0, time.UTC)
	records := []state.Record{
		{Server: "SENSE1", Directory: "LAB", UserID: "anna", Sessions: 2, FirstSeen: first, LastSeen: first.Add(time.Minute)},
		{Server: "SENSE2", Directory: "CORP", UserID: "Jörg", Sessions: 1, FirstSeen: first, LastSeen: first},
	}
	require.NoError(t, Save(path, records, first.Add(time.Hour)))
	f, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, Version, f.Version)
	require.Equal(t, records, f.Sessions)
	require.True(t, f.SavedAt.Equal(first.Add(time.Hour)))

	// Saving again replaces the file and leaves no temporary files behind.
	require.NoError(t, Save(path, records[:1], first))
	f, err = Load(path)
	require.NoError(t, err)
	require.Len(t, f.Sessions, 1)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestLoadMissingFileIsEmpty(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "none.json"))
	require.NoError(t, err)
	require.Empty(t, f.Sessions)
}

func TestLoadCommittedVersion1(t *testing.T) {
	f, err := Load("testdata/v1.json")
	require.NoError(t, err)
	require.Len(t, f.Sessions, 2)
	require.Equal(t, state.Record{
		Server: "SENSE1", Directory: "LAB", UserID: "anna", Sessions: 2,
		FirstSeen: time.Date(2026, 11, 24, 7, 55, 0, 0, time.UTC),
		LastSeen:  time.Date(2026, 11, 24, 7, 59, 0, 0, time.UTC),
	}, f.Sessions[0])
}

func TestLoadRejectsBadFiles(t *testing.T) {
	tests := []struct {
		file   string
		errMsg []string
	}{
		{"testdata/v2.json", []string{"unsupported state file version 2", "reads version 1", "delete it"}},
		{"testdata/truncated.json", []string{"is corrupt", "delete it"}},
		{"testdata/not_ours.json", []string{"is corrupt"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			_, err := Load(tt.file)
			for _, msg := range tt.errMsg {
				require.ErrorContains(t, err, msg)
			}
		})
	}

	path := filepath.Join(t.TempDir(), "noversion.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"sessions":[]}`), 0o600))
	_, err := Load(path)
	require.ErrorContains(t, err, "has no version")

	_, err = Load(t.TempDir()) // a folder
	require.ErrorContains(t, err, "reading state file")
}

func TestSaveIntoMissingFolderFails(t *testing.T) {
	err := Save(filepath.Join(t.TempDir(), "no", "such", "state.json"), nil, time.Now())
	require.ErrorContains(t, err, "creating a temporary file")
}

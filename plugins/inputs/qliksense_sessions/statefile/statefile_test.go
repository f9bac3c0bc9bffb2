package statefile

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first := time.Date(2026, 11, 24, 7, 55, 0, 0, time.UTC)
	records := []state.Record{
		{Server: "SENSE1", Directory: "LAB", UserID: "anna", Sessions: 2, FirstSeen: first, LastSeen: first.Add(time.Minute), StartSeen: true,
			Known: []state.KnownSession{{ID: "2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01", Started: first, Connections: 3}}},
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

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.json")
	_, err := Load(path)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "no state file at "+strconv.Quote(path))
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
		{"testdata/v2.json", []string{"unsupported state file version 2", "reads version 1"}},
		{"testdata/truncated.json", []string{"is corrupt", "unexpected end of JSON input"}},
		{"testdata/not_ours.json", []string{"is corrupt"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			_, err := Load(tt.file)
			require.NotErrorIs(t, err, fs.ErrNotExist)
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

// writeFile writes a version 1 state file with the given records (JSON
// objects, written as they are) and returns its path.
func writeFile(t *testing.T, records ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	data := `{"version":1,"saved_at":"2026-11-24T08:00:00Z","sessions":[` + strings.Join(records, ",\n") + `]}`
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	return path
}

// record is a version 1 record with valid times.
func record(server, directory, user, sessions string) string {
	quote := func(s string) string {
		q, err := json.Marshal(s)
		if err != nil {
			panic(err)
		}
		return string(q)
	}
	return fmt.Sprintf(`{"server":%s,"directory":%s,"user_id":%s,"sessions":%s,"first_seen":"2026-11-24T07:55:00Z","last_seen":"2026-11-24T07:59:00Z"}`,
		quote(server), quote(directory), quote(user), sessions)
}

func TestLoadSkipsBadRecords(t *testing.T) {
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	t1 := time.Date(2026, 11, 24, 7, 55, 0, 0, time.UTC)
	t2 := time.Date(2026, 11, 24, 7, 59, 0, 0, time.UTC)
	path := writeFile(t,
		record("SENSE1", "LAB", "anna", "2"),
		// Two records of MaxInt64 sessions once restored as -2 sessions.
		record("SENSE1", "LAB", "huge1", "9223372036854775807"),
		record("SENSE1", "LAB", "huge2", "9223372036854775807"),
		record("SENSE1", "LAB", "beyond_int64", "99999999999999999999"),
		record("SENSE1", "LAB", "over_limit", "100001"),
		record("SENSE1", "LAB", "at_limit", "100000"),
		record("SENSE1", "LAB", "zero", "0"),
		record("SENSE1", "LAB", "negative", "-1"),
		record("SENSE1", "LAB", "fraction", "1.5"),
		record("SENSE1", "LAB", "exponent", "1e3"),
		`{"server":"SENSE1","directory":"LAB","user_id":"no_count","first_seen":"2026-11-24T07:55:00Z","last_seen":"2026-11-24T07:59:00Z"}`,
		record("", "LAB", "no_server", "1"),
		record("SENSE1", "", "no_directory", "1"),
		record("SENSE1", "LAB", "", "1"),
		record("SENSE1", "LAB", "new\nline", "1"),
		record("SENSE1\x00", "LAB", "nul", "1"),
		record("SENSE1", "LAB\u0085", "c1", "1"),
		record("SENSE1", "LAB", "tab\tbed", "1"),
		// The state keys users by server and DIRECTORY\userid, ignoring case.
		record("sense1", "lab", "ANNA", "5"),
		record("SENSE2", "LAB", "anna", "1"),
		record("SENSE2", "CORP", "Jörg", "1"),
		record("SENSE2", "CORP", "JÖRG", "1"),
		`{"server":"SENSE1","directory":"LAB","user_id":"future","sessions":1,"first_seen":"2026-11-24T07:55:00Z","last_seen":"2026-11-24T09:00:01Z"}`,
		`{"server":"SENSE1","directory":"LAB","user_id":"future_start","sessions":1,"first_seen":"2030-01-01T00:00:00Z","last_seen":"2026-11-24T07:00:00Z"}`,
		`{"server":"SENSE1","directory":"LAB","user_id":"soon","sessions":1,"first_seen":"2026-11-24T07:55:00Z","last_seen":"2026-11-24T09:00:00Z"}`,
		`{"server":"SENSE1","directory":"LAB","user_id":"bad_time","sessions":1,"first_seen":"yesterday","last_seen":"2026-11-24T07:59:00Z"}`,
		`{"server":5,"directory":"LAB","user_id":"number","sessions":1}`,
		`"not an object"`,
		`null`,
	)
	f, err := loadAt(path, now)
	require.NoError(t, err)
	rec := func(server, directory, user string, sessions int) state.Record {
		return state.Record{Server: server, Directory: directory, UserID: user, Sessions: sessions, FirstSeen: t1, LastSeen: t2}
	}
	soon := rec("SENSE1", "LAB", "soon", 1)
	soon.LastSeen = now.Add(MaxAhead)
	require.Equal(t, []state.Record{
		rec("SENSE1", "LAB", "anna", 2),
		rec("SENSE1", "LAB", "at_limit", MaxSessions),
		rec("SENSE2", "LAB", "anna", 1),
		rec("SENSE2", "CORP", "Jörg", 1),
		soon,
	}, f.Sessions)
	require.Equal(t, Skipped{
		ReasonSessions:  9,
		ReasonEmptyName: 4,
		ReasonControl:   4,
		ReasonDuplicate: 2,
		ReasonFuture:    2,
		ReasonInvalid:   3,
	}, f.Skipped)
	require.Equal(t, 24, f.Skipped.Total())
	require.Equal(t, "24 records skipped: 3 with "+ReasonInvalid+", 4 with "+ReasonEmptyName+", 4 with "+ReasonControl+
		", 9 with "+ReasonSessions+", 2 with "+ReasonFuture+", 2 with "+ReasonDuplicate, f.Skipped.String())
}

func TestReasonsNameTheLimits(t *testing.T) {
	require.Contains(t, ReasonSessions, " "+strconv.Itoa(MaxSessions))
	require.Contains(t, ReasonTotal, " "+strconv.Itoa(MaxTotalSessions))
	require.Contains(t, ReasonFuture, " "+strings.TrimSuffix(MaxAhead.String(), "0m0s")+" ")
	require.ElementsMatch(t, reasons, []string{ReasonInvalid, ReasonEmptyName, ReasonControl, ReasonSessions, ReasonFuture, ReasonDuplicate,
		ReasonMaxUserSessions, ReasonTotal})
}

func TestLoadKeepsTheTotalInRange(t *testing.T) {
	// Enough records at the per-record limit to pass MaxInt32 (and 32-bit
	// int) together: the records that would take the total past it are
	// skipped.
	n := MaxTotalSessions/MaxSessions + 2
	records := make([]string, n)
	for i := range records {
		records[i] = record("SENSE1", "LAB", "u"+strconv.Itoa(i), strconv.Itoa(MaxSessions))
	}
	f, err := Load(writeFile(t, records...))
	require.NoError(t, err)
	require.Len(t, f.Sessions, MaxTotalSessions/MaxSessions)
	require.Equal(t, Skipped{ReasonTotal: 2}, f.Skipped)
	var total int64
	for _, r := range f.Sessions {
		total += int64(r.Sessions)
	}
	require.LessOrEqual(t, total, int64(MaxTotalSessions))
	require.Equal(t, "2 records skipped: 2 with "+ReasonTotal, f.Skipped.String())
}

func TestLoadValidFileSkipsNothing(t *testing.T) {
	f, err := Load("testdata/v1.json")
	require.NoError(t, err)
	require.Zero(t, f.Skipped.Total())
}

// TestSaveWritesVersion pins the format Save writes. If it fails because the
// format changed, decide: a change older builds would misread bumps Version
// (and Load keeps reading testdata/v1.json); then update the golden file.
func TestSaveWritesVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first := time.Date(2026, 11, 24, 7, 55, 0, 0, time.UTC)
	records := []state.Record{
		{Server: "SENSE1", Directory: "LAB", UserID: "anna", Sessions: 2, FirstSeen: first, LastSeen: first.Add(4 * time.Minute), StartSeen: true,
			Known: []state.KnownSession{
				{ID: "2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01", Started: first, Connections: 2},
				{ID: "9b0e2d4c-1f3a-4e5b-8c6d-7e8f9a0b1c2d"},
			}},
		{Server: "SENSE2", Directory: "CORP", UserID: "bob", Sessions: 1, FirstSeen: first.Add(-115 * time.Minute), LastSeen: first.Add(-105 * time.Minute)},
	}
	require.NoError(t, Save(path, records, first.Add(5*time.Minute)))
	written, err := os.ReadFile(path)
	require.NoError(t, err)
	goldenFile := fmt.Sprintf("testdata/v%d_saved.json", Version)
	golden, err := os.ReadFile(goldenFile)
	require.NoError(t, err)
	require.JSONEq(t, string(golden), string(written))
	require.Equal(t, strings.TrimSpace(string(golden)), string(written))

	// And this build reads it back whole.
	f, err := Load(goldenFile)
	require.NoError(t, err)
	require.Equal(t, records, f.Sessions)
	require.Zero(t, f.Skipped.Total())
	require.Zero(t, f.KnownDropped)

	// An empty state is an empty list, not null.
	require.NoError(t, Save(path, nil, first))
	written, err = os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(written), `"sessions":[]`)
}

func TestSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	at := time.Date(2026, 11, 24, 8, 0, 5, 0, time.FixedZone("CET", 3600))
	require.NoError(t, os.WriteFile(path, []byte("first"), 0o600))
	aside, err := SetAside(path, at)
	require.NoError(t, err)
	require.Equal(t, path+".unreadable-20261124T070005Z", aside)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist)

	// A second copy in the same second does not replace the first.
	require.NoError(t, os.WriteFile(path, []byte("second"), 0o600))
	aside2, err := SetAside(path, at)
	require.NoError(t, err)
	require.Equal(t, path+".unreadable-20261124T070005Z-2", aside2)
	for name, content := range map[string]string{aside: "first", aside2: "second"} {
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		require.Equal(t, content, string(data))
	}

	_, err = SetAside(filepath.Join(dir, "none.json"), at)
	require.ErrorContains(t, err, "keeping")
}

func TestLoadDropsKnownSessionsOutOfRange(t *testing.T) {
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	path := writeFile(t, `{"server":"SENSE1","directory":"LAB","user_id":"anna","sessions":3,`+
		`"first_seen":"2026-11-24T07:55:00Z","last_seen":"2026-11-24T07:59:00Z","known":[
		{"id":"good","started":"2026-11-24T07:55:00Z","connections":1},
		{"id":""},
		{"id":"bad\u0000id"},
		{"id":"negative","connections":-1},
		{"id":"many","connections":100001},
		{"id":"future","started":"2026-11-24T09:00:01Z"}]}`,
		`{"server":"SENSE1","directory":"LAB","user_id":"bob","sessions":1,`+
			`"first_seen":"2026-11-24T07:55:00Z","last_seen":"2026-11-24T07:59:00Z","known":[{"id":""}]}`)
	f, err := loadAt(path, now)
	require.NoError(t, err)
	require.Len(t, f.Sessions, 2)
	require.Equal(t, []state.KnownSession{{ID: "good", Started: time.Date(2026, 11, 24, 7, 55, 0, 0, time.UTC), Connections: 1}}, f.Sessions[0].Known)
	require.Equal(t, 3, f.Sessions[0].Sessions)
	require.Nil(t, f.Sessions[1].Known)
	require.Equal(t, 6, f.KnownDropped)
	require.Zero(t, f.Skipped.Total())
}

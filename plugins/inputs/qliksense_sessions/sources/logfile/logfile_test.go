package logfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/auditlog"
)

func TestNewValidates(t *testing.T) {
	live := []string{"/log/*_AuditActivity_Proxy.txt"}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" for none
	}{
		{"defaults", Config{Files: live}, ""},
		{"no files", Config{}, "logfile.files is empty"},
		{"empty glob", Config{Files: []string{" "}}, "logfile.files: an empty path"},
		{"bad glob", Config{Files: []string{"/log/[*.txt"}}, `logfile.files: "/log/[*.txt" is not a valid glob`},
		{"bad archive glob", Config{Files: live, ArchiveFiles: []string{"/a/[x"}, ArchiveMaxAge: time.Hour}, "logfile.archive_files"},
		{"archives without age", Config{Files: live, ArchiveFiles: []string{"/a/*.log"}}, "logfile.archive_max_age is 0"},
		{"negative age", Config{Files: live, ArchiveMaxAge: -time.Hour}, "logfile.archive_max_age is negative"},
		{"age without archive files", Config{Files: live, ArchiveMaxAge: time.Hour}, ""},
		{"poll too fast", Config{Files: live, PollInterval: time.Millisecond}, "logfile.poll_interval is 1ms"},
		{"poll too slow", Config{Files: live, PollInterval: 2 * time.Minute}, "logfile.poll_interval is 2m0s"},
		{"glob too fast", Config{Files: live, GlobInterval: time.Millisecond}, "logfile.glob_interval is 1ms"},
		{"line limit too small", Config{Files: live, MaxLineBytes: 100}, "logfile.max_line_size is 100 bytes"},
		{"line limit too large", Config{Files: live, MaxLineBytes: 1 << 30}, "logfile.max_line_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.want == "" {
				require.NoError(t, err)
				require.Equal(t, DefaultPollInterval, s.cfg.PollInterval)
				require.Equal(t, DefaultGlobInterval, s.cfg.GlobInterval)
				require.Equal(t, DefaultMaxLineBytes, s.cfg.MaxLineBytes)
				require.Equal(t, []string{"/log/*_AuditActivity_Proxy_*.log"}, s.rotGlobs)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestNewDropsBadPositions(t *testing.T) {
	fp := fingerprint([]byte("x"))
	log := &testLog{t: t}
	s, err := New(Config{Files: []string{"/log/*.txt"}, Log: log, Resume: []Position{
		{Path: "good", Fingerprint: fp, FingerprintBytes: 1, Offset: 1},
		{Path: "short fingerprint", Fingerprint: fp[:10], FingerprintBytes: 1, Offset: 1},
		{Path: "offset beyond a short fingerprint", Fingerprint: fp, FingerprintBytes: 100, Offset: 200},
		{Path: "negative", Fingerprint: fp, FingerprintBytes: 1, Offset: -1},
		{Path: "too long", Fingerprint: fp, FingerprintBytes: FingerprintBytes + 1, Offset: 1},
		{Path: "not hex", Fingerprint: strings.Repeat("g", 64), FingerprintBytes: 1, Offset: 1},
	}})
	require.NoError(t, err)
	require.Len(t, s.pending, 1)
	require.True(t, log.contains("W!", "5 saved log file positions are not valid"))
}

// The testdata file: every data row in order, the header in the middle
// (a rotation under the writer, with other columns) read as a header.
func TestTestdataFile(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/SENSE1_AuditActivity_Proxy.txt")
	require.NoError(t, err)
	path := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, path, string(data))

	h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}})
	h.waitRebuilt()
	got := h.waitRows(15)
	counts := map[event.Status]int{}
	var starts []string
	for i, g := range got {
		require.Equal(t, path, g.Path)
		require.True(t, g.Rebuilding)
		require.Equal(t, strconv.Itoa(i+1), strings.SplitN(g.Key, "#", 2)[1], "file order")
		counts[g.Status]++
		if g.Command == event.StartSession {
			starts = append(starts, g.User+" "+g.SessionID)
		}
	}
	// As the auditlog package's Example reads the same file.
	require.Equal(t, map[event.Status]int{event.Accepted: 11, event.Ignored: 4}, counts)
	require.Equal(t, []string{
		`LAB\anna 2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01`,
		`CORP\bob 9b3e51c4-0d2a-4f7e-b1c8-6e5d4c3b2a10`,
		`LAB\svc_monitor `,
		`LAB\Jörg.Müller `,
		`ОТДЕЛ\李雷 d00d0000-0000-4000-8000-000000000001`,
		`LAB\anna c0ffee00-1234-4abc-9def-0123456789ab`,
	}, starts)
	require.Equal(t, int64(len(data)), got[len(got)-1].Offset)
	positions := h.src.Positions()
	require.Len(t, positions, 1)
	require.Equal(t, int64(len(data)), positions[0].Offset)
	require.Equal(t, fingerprint(data[:FingerprintBytes]), positions[0].Fingerprint)
}

func TestStartWithExistingFilesThenAppend(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	b := filepath.Join(dir, "SENSE2_AuditActivity_Proxy.txt")
	writeFile(t, a, header+rows("SENSE1", 1, 5))
	writeFile(t, b, header+rows("SENSE2", 1, 3))
	// Not matched by the glob.
	writeFile(t, filepath.Join(dir, "SENSE1_AuditSecurity_Proxy.txt"), "whatever\r\n")

	h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}})
	h.waitRebuilt()
	got := h.waitRows(8)
	// In time-stamp order across the files (row n of each is at t0+n ms;
	// ties go to the first live path).
	require.Equal(t, []string{"SENSE1#1", "SENSE2#1", "SENSE1#2", "SENSE2#2", "SENSE1#3", "SENSE2#3", "SENSE1#4", "SENSE1#5"}, h.keys())
	for _, g := range got {
		require.True(t, g.Rebuilding, g)
		require.Equal(t, event.Accepted, g.Status, g)
	}
	require.Equal(t, event.StartSession, got[0].Command)
	require.Equal(t, event.StopSession, got[2].Command) // SENSE1#2
	require.Equal(t, `LAB\anna`, got[0].User)
	require.Equal(t, t0.Add(time.Millisecond).UnixMilli(), got[0].Time.UnixMilli())

	// A partial row is not delivered until its line end comes.
	size := int64(len(header + rows("SENSE1", 1, 5) + header + rows("SENSE2", 1, 3)))
	r6 := row(6, "SENSE1", "Start session", "bob")
	appendFile(t, a, r6[:40])
	h.waitRead(size + 40)
	appendFile(t, a, r6[40:len(r6)-1]) // all but the LF
	h.waitRead(size + int64(len(r6)) - 1)
	h.waitPolls(1) // the poll that read it has handed over what it would
	require.Len(t, h.rows(), 8)
	appendFile(t, a, "\n"+row(7, "SENSE1", "Stop session", "bob"))
	got = h.waitRows(10)
	require.Equal(t, "SENSE1#6", got[8].Key)
	require.False(t, got[8].Rebuilding)
	require.Equal(t, `LAB\bob`, got[8].User)
	require.Equal(t, "SENSE1#7", got[9].Key)
	require.Equal(t, int64(len(header+rows("SENSE1", 1, 5))+len(r6)), got[8].Offset)

	stats := h.src.Stats()
	require.Equal(t, uint64(10), stats.Rows)
	require.Equal(t, uint64(2), stats.FilesRead)
	requireOpenFiles(t, h.src, 2)
	h.stop()
	require.Equal(t, 0, h.src.Stats().OpenFiles)
}

// Rotation while tailing: rows written just before the rename are read
// from the renamed file, the new file from its header on; none twice.
func TestRotationWhileTailing(t *testing.T) {
	for _, tt := range []struct {
		name string
		// rotate renames or deletes live after writing its last rows.
		rotate func(t *testing.T, live string, n int)
	}{
		{"renamed", func(t *testing.T, live string, n int) {
			stamp := time.Date(2026, 3, 2, 8, 0, n, 0, time.UTC).Format("2006-01-02T15.04.05")
			require.NoError(t, os.Rename(live, strings.TrimSuffix(live, ".txt")+"_"+stamp+"Z.log"))
		}},
		{"moved to ArchivedLogs", func(t *testing.T, live string, n int) {
			archive := filepath.Join(filepath.Dir(filepath.Dir(live)), "ArchivedLogs")
			require.NoError(t, os.MkdirAll(archive, 0o750))
			require.NoError(t, os.Rename(live, filepath.Join(archive, fmt.Sprintf("SENSE1_AuditActivity_Proxy_%d.log", n))))
		}},
		{"deleted", func(t *testing.T, live string, _ int) {
			require.NoError(t, os.Remove(live))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "Audit")
			live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
			writeFile(t, live, header+rows("SENSE1", 1, 3))
			h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}})
			h.waitRebuilt()
			h.waitRows(3)

			const rotations = 20
			seq := 3
			var want []string
			want = append(want, keyRange("SENSE1", 1, 3)...)
			for n := range rotations {
				// Rows, then at once the rotation, then the new file:
				// the source may see any step.
				appendFile(t, live, rows("SENSE1", seq+1, seq+2))
				want = append(want, keyRange("SENSE1", seq+1, seq+2)...)
				seq += 2
				tt.rotate(t, live, n)
				writeFile(t, live, header)
				if n%2 == 0 {
					// Sometimes the new file has rows before the source
					// looks.
					appendFile(t, live, rows("SENSE1", seq+1, seq+1))
					want = append(want, keyRange("SENSE1", seq+1, seq+1)...)
					seq++
				}
				// A file moved out of the folder or deleted before the
				// source ever opened it is not read while following (see
				// the package documentation; TestRotationsWithinOnePoll
				// has renames within it): let the source open each new
				// file, but do not wait for its rows.
				require.Eventually(t, func() bool { return h.src.Stats().FilesRead >= uint64(n+2) }, 10*time.Second, time.Millisecond)
				if n%5 == 0 {
					h.waitRows(len(want))
				}
			}
			h.waitRows(len(want))
			require.Equal(t, want, h.keys())
			for _, g := range h.rows()[3:] {
				require.False(t, g.Rebuilding, g)
			}
			require.Equal(t, uint64(rotations), h.src.Stats().Rotations)
			requirePosition(t, h.src, live)
			requireOpenFiles(t, h.src, 1) // rotated files are closed
		})
	}
}

// A file with only its header is rotated, and the new file has the same
// header: the source must not take the new file for the old one.
func TestRotationOfAHeaderOnlyFile(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, live, header)
	h := start(t, Config{Files: []string{filepath.Join(dir, "*.txt")}})
	h.waitRebuilt()
	h.waitRead(int64(len(header)))
	require.NoError(t, os.Rename(live, filepath.Join(dir, "SENSE1_AuditActivity_Proxy_2026-03-02T08.00.00Z.log")))
	writeFile(t, live, header+rows("SENSE1", 1, 2))
	h.waitRows(2)
	require.Equal(t, keyRange("SENSE1", 1, 2), h.keys())
}

func TestTruncation(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, live, header+rows("SENSE1", 1, 4))
	h := start(t, Config{Files: []string{filepath.Join(dir, "*.txt")}})
	h.waitRebuilt()
	h.waitRows(4)

	// Truncated, then written again from the start (copytruncate).
	f, err := os.OpenFile(live, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Eventually(t, func() bool { return h.src.Stats().Truncations == 1 }, 10*time.Second, time.Millisecond)
	appendFile(t, live, header+rows("SENSE1", 5, 6))
	h.waitRows(6)

	// Rewritten in place with more than was read (never shorter): the first
	// bytes tell.
	writeFile(t, live, strings.Replace(header, "Sequence#", "Sequence# ", 1)+rows("SENSE1", 7, 20))
	h.waitRows(20)
	require.Equal(t, concat(keyRange("SENSE1", 1, 4), keyRange("SENSE1", 5, 6), keyRange("SENSE1", 7, 20)), h.keys())
	require.Equal(t, uint64(2), h.src.Stats().Truncations)
	require.True(t, h.log.contains("W!", "reading it again from the start"))
}

func TestSecondServerAppearsLater(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "SENSE1", "SENSE1_AuditActivity_Proxy.txt"), header+rows("SENSE1", 1, 2))
	h := start(t, Config{Files: []string{filepath.Join(dir, "*", "*_AuditActivity_Proxy.txt")}})
	h.waitRebuilt()
	h.waitRows(2)
	writeFile(t, filepath.Join(dir, "SENSE2", "SENSE2_AuditActivity_Proxy.txt"), header+rows("SENSE2", 1, 3))
	got := h.waitRows(5)
	require.Equal(t, concat(keyRange("SENSE1", 1, 2), keyRange("SENSE2", 1, 3)), h.keys())
	for _, g := range got[2:] {
		require.False(t, g.Rebuilding, "rows of a file found later are new")
	}
	require.Len(t, h.src.Positions(), 2)
}

// Stop, write, restart from the saved positions: the rows written while
// stopped come once, none of those before.
func TestResume(t *testing.T) {
	type step func(t *testing.T, dir, live string)
	// Where the live file goes, below dir: rotated in its folder, or moved on
	// to ArchivedLogs.
	rotatedName := "SENSE1_AuditActivity_Proxy_2026-03-02T09.00.00Z.log"
	rotated := filepath.Join("Audit", rotatedName)
	archived := filepath.Join("ArchivedLogs", "SENSE1", "Proxy", "Audit", rotatedName)
	rotateTo := func(name string) step {
		return func(t *testing.T, dir, live string) {
			target := filepath.Join(dir, name)
			require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o750))
			require.NoError(t, os.Rename(live, target))
		}
	}
	tests := []struct {
		name    string
		archive bool // configure archive_files
		// whileStopped runs between the two runs, after rows 4..5 were
		// appended to the live file.
		whileStopped []step
		newFile      bool // a new live file with rows 100.. follows
		want         []string
	}{
		{name: "appended", want: keyRange("SENSE1", 4, 5)},
		{name: "nothing new", whileStopped: []step{func(t *testing.T, _, live string) {
			require.NoError(t, os.Truncate(live, int64(len(header+rows("SENSE1", 1, 3)))))
		}}},
		{
			name:         "rotated in the live folder",
			whileStopped: []step{rotateTo(rotated)},
			newFile:      true,
			want:         concat(keyRange("SENSE1", 4, 5), keyRange("SENSE1", 100, 102)),
		},
		{
			name:         "rotated and moved to ArchivedLogs",
			archive:      true,
			whileStopped: []step{rotateTo(archived)},
			newFile:      true,
			want:         concat(keyRange("SENSE1", 4, 5), keyRange("SENSE1", 100, 102)),
		},
		{
			name:         "rotated and moved, archives not configured: only the new file",
			whileStopped: []step{rotateTo(archived)},
			newFile:      true,
			want:         keyRange("SENSE1", 100, 102),
		},
		{
			name:    "rotated, and copied to ArchivedLogs: read once",
			archive: true,
			whileStopped: []step{
				rotateTo(rotated),
				func(t *testing.T, dir, _ string) {
					data, err := os.ReadFile(filepath.Join(dir, rotated))
					require.NoError(t, err)
					writeFile(t, filepath.Join(dir, archived), string(data))
				},
			},
			newFile: true,
			want:    concat(keyRange("SENSE1", 4, 5), keyRange("SENSE1", 100, 102)),
		},
		{
			name: "replaced by another file (fingerprint changed)",
			whileStopped: []step{func(t *testing.T, _, live string) {
				writeFile(t, live, header+rows("SENSE1", 50, 60))
			}},
			want: keyRange("SENSE1", 50, 60),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "Audit", "SENSE1_AuditActivity_Proxy.txt")
			cfg := Config{Files: []string{filepath.Join(dir, "Audit", "*_AuditActivity_Proxy.txt")}}
			if tt.archive {
				cfg.ArchiveFiles = []string{filepath.Join(dir, "ArchivedLogs", "*", "Proxy", "Audit", "*_AuditActivity_Proxy_*.log")}
				// Only files the positions name: these are older.
				cfg.ArchiveMaxAge = time.Minute
			}
			writeFile(t, live, header+rows("SENSE1", 1, 3))
			first := start(t, cfg)
			first.waitRebuilt()
			first.waitRows(3)
			first.stop()
			saved := first.src.Positions()
			require.Len(t, saved, 1)
			require.Equal(t, int64(len(header+rows("SENSE1", 1, 3))), saved[0].Offset)

			appendFile(t, live, rows("SENSE1", 4, 5))
			for _, step := range tt.whileStopped {
				step(t, dir, live)
			}
			if tt.newFile {
				writeFile(t, live, header+rows("SENSE1", 100, 102))
			}
			// Rotated files are older than archive_max_age: only a saved
			// position may have them read.
			old := time.Now().Add(-time.Hour)
			for _, pattern := range append(cfg.ArchiveFiles, filepath.Join(dir, "Audit", "*.log")) {
				matches, err := filepath.Glob(pattern)
				require.NoError(t, err)
				for _, m := range matches {
					require.NoError(t, os.Chtimes(m, old, old))
				}
			}

			cfg.Resume = saved
			second := start(t, cfg)
			second.waitRebuilt()
			second.waitRows(len(tt.want))
			require.Equal(t, tt.want, second.keys())
			for _, g := range second.rows() {
				require.True(t, g.Rebuilding, g)
			}

			// And a third run from the second's positions reads nothing.
			restartReadsOnlyNew(t, second, cfg, live, 200)
		})
	}
}

// Positions taken by Checkpoint match the rows the handler has seen, with a
// handler that takes the caller's own lock, as the pipeline's does.
func TestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	content := header + rows("SENSE1", 1, 2000)
	writeFile(t, live, content)
	var mu sync.Mutex
	var handled int64 // the offset after the last row handled
	src, err := New(Config{Files: []string{live}, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := src.Run(t.Context(), func(r Row) {
			mu.Lock()
			handled = r.Offset
			mu.Unlock()
		}); err != nil {
			t.Error(err)
		}
	}()
	checks := 0
	go func() {
		<-src.Rebuilt()
		close(stop)
	}()
	for running := true; running; {
		select {
		case <-stop:
			running = false
		default:
		}
		var seen int64
		positions := src.Checkpoint(func() {
			mu.Lock()
			seen = handled
			mu.Unlock()
		})
		if len(positions) == 1 && seen > 0 {
			require.Equal(t, seen, positions[0].Offset)
			checks++
		}
	}
	mu.Lock()
	require.Equal(t, int64(len(content)), handled)
	mu.Unlock()
	t.Logf("%d consistent snapshots", checks)
}

// Each offset Checkpoint returns is after exactly as many rows as f saw
// handled, while rebuilding and while following. The count has no lock of
// its own: Checkpoint alone keeps f apart from the handler, so -race also
// fails the test if they overlap.
func TestCheckpointCountsRows(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	const rebuildRows, appends, appendRows = 2000, 20, 50
	// The offset after a row -> rows up to it; before the first read and
	// after the header, none.
	rowsAt := map[int64]int{0: 0, int64(len(header)): 0}
	var content strings.Builder
	content.WriteString(header)
	var chunks []string
	for i := 1; i <= rebuildRows+appends*appendRows; i++ {
		content.WriteString(rows("SENSE1", i, i))
		rowsAt[int64(content.Len())] = i
		if i > rebuildRows && (i-rebuildRows)%appendRows == 0 {
			chunks = append(chunks, rows("SENSE1", i-appendRows+1, i))
		}
	}
	writeFile(t, live, header+rows("SENSE1", 1, rebuildRows))
	src, err := New(Config{Files: []string{live}, PollInterval: MinPollInterval})
	require.NoError(t, err)
	handled := 0
	ran, wrote := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { <-ran; <-wrote })
	go func() {
		defer close(ran)
		if err := src.Run(t.Context(), func(Row) { handled++ }); err != nil {
			t.Error(err)
		}
	}()
	go func() {
		defer close(wrote)
		<-src.Rebuilt()
		for i, c := range chunks {
			if err := appendTo(live, c); err != nil {
				t.Error(err)
				return
			}
			// Each chunk is read by a poll of its own.
			for want := uint64(rebuildRows + (i+1)*appendRows); src.Stats().Rows < want && t.Context().Err() == nil; {
				time.Sleep(time.Millisecond)
			}
		}
	}()

	total := rebuildRows + appends*appendRows
	checks := 0
	for deadline := time.Now().Add(10 * time.Second); ; {
		var seen int
		positions := src.Checkpoint(func() { seen = handled })
		if len(positions) == 1 {
			n, ok := rowsAt[positions[0].Offset]
			require.True(t, ok, "offset %d is not after a row", positions[0].Offset)
			require.Equal(t, seen, n, "offset %d", positions[0].Offset)
			checks++
		}
		if seen == total {
			break
		}
		require.True(t, time.Now().Before(deadline), "handled %d of %d rows", seen, total)
	}
	require.Equal(t, int64(content.Len()), src.Checkpoint(nil)[0].Offset)
	t.Logf("%d consistent checkpoints", checks)
}

// appendTo is appendFile for goroutines other than the test's.
func appendTo(path, content string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0) // it exists
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	return errors.Join(err, f.Close())
}

func TestArchivesWithinMaxAge(t *testing.T) {
	dir := t.TempDir()
	auditDir := filepath.Join(dir, "Log", "Proxy", "Audit")
	archDir := filepath.Join(dir, "ArchivedLogs", "SENSE1", "Proxy", "Audit")
	files := []struct {
		path string
		age  time.Duration
		rows string
	}{
		{filepath.Join(archDir, "SENSE1_AuditActivity_Proxy_2026-03-01T20.00.00Z.log"), 3 * time.Hour, rows("SENSE1", 10, 11)},
		{filepath.Join(archDir, "SENSE1_AuditActivity_Proxy_2026-03-01T08.00.00Z.log"), 30 * time.Hour, rows("SENSE1", 1, 2)}, // too old
		{filepath.Join(auditDir, "SENSE1_AuditActivity_Proxy_2026-03-02T07.00.00Z.log"), time.Hour, rows("SENSE1", 20, 21)},
		{filepath.Join(archDir, "SENSE1_AuditActivity_Proxy_2026-03-02T00.00.00Z.log"), 2 * time.Hour, rows("SENSE1", 15, 16)},
		{filepath.Join(archDir, "not_a_log_2026.log"), time.Hour, ""},
	}
	for _, f := range files {
		content := header + f.rows
		if f.rows == "" {
			content = "hello\n"
		}
		writeFile(t, f.path, content)
		at := time.Now().Add(-f.age)
		require.NoError(t, os.Chtimes(f.path, at, at))
	}
	writeFile(t, filepath.Join(auditDir, "SENSE1_AuditActivity_Proxy.txt"), header+rows("SENSE1", 30, 31))

	h := start(t, Config{
		Files:         []string{filepath.Join(auditDir, "*_AuditActivity_Proxy.txt")},
		ArchiveFiles:  []string{filepath.Join(dir, "ArchivedLogs", "*", "Proxy", "Audit", "*.log")},
		ArchiveMaxAge: 24 * time.Hour,
	})
	h.waitRebuilt()
	got := h.waitRows(8)
	// Oldest first, the live file last.
	require.Equal(t, concat(keyRange("SENSE1", 10, 11), keyRange("SENSE1", 15, 16), keyRange("SENSE1", 20, 21), keyRange("SENSE1", 30, 31)), h.keys())
	for _, g := range got {
		require.True(t, g.Rebuilding)
	}
	require.Equal(t, files[0].path, got[0].Path)
	require.Equal(t, uint64(1), h.src.Stats().FilesSkipped, "not_a_log")
	requireOpenFiles(t, h.src, 1) // archived files are closed
	// Positions: the live file and the three archives read.
	require.Len(t, h.src.Positions(), 4)
}

func TestOversizeRows(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	long := func(seq int, n int) string {
		r := row(seq, "SENSE1", "Open connection", "anna")
		return strings.Replace(r, "for user", "for user "+strings.Repeat("x", n), 1)
	}
	// One within the limit (it grows the buffer), one over it.
	writeFile(t, live, header+rows("SENSE1", 1, 1)+long(2, 90_000)+long(3, 120_000)+rows("SENSE1", 4, 4))
	h := start(t, Config{Files: []string{live}, MaxLineBytes: 100_000})
	h.waitRebuilt()
	got := h.waitRows(4)
	require.Equal(t, event.Accepted, got[1].Status)
	require.Equal(t, event.Malformed, got[2].Status)
	require.Equal(t, ReasonOversize, got[2].Reason)
	require.Equal(t, "SENSE1#3", got[2].Key, "the excerpt keeps the first fields")
	require.Equal(t, "SENSE1#4", got[3].Key)
	require.Equal(t, uint64(1), h.src.Stats().Oversize)
	require.True(t, h.log.contains("W!", "longer than max_line_size = 100000"))
	requireBufferBytes(t, h.src, bufSize) // the buffer shrank back

	// While tailing, an oversize row that arrives in pieces, more than the
	// read buffer, then rows.
	r5 := long(5, 300_000)
	appendFile(t, live, r5[:1000])
	h.waitRead(int64(len(header+rows("SENSE1", 1, 1)+long(2, 90_000)+long(3, 120_000)+rows("SENSE1", 4, 4))) + 1000)
	appendFile(t, live, r5[1000:150_000])
	appendFile(t, live, r5[150_000:]+rows("SENSE1", 6, 6))
	got = h.waitRows(6)
	require.Equal(t, ReasonOversize, got[4].Reason)
	require.Equal(t, "SENSE1#5", got[4].Key)
	require.Equal(t, "SENSE1#6", got[5].Key)
	require.Equal(t, event.Accepted, got[5].Status)
	require.Equal(t, uint64(2), h.src.Stats().Oversize)
	requireBufferBytes(t, h.src, bufSize)
}

func TestNotAnAuditActivityLog(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/SENSE1_Audit_Proxy.txt")
	require.NoError(t, err)
	bad := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, bad, string(data))
	writeFile(t, filepath.Join(dir, "SENSE2_AuditActivity_Proxy.txt"), header+rows("SENSE2", 1, 2))
	writeFile(t, filepath.Join(dir, "BINARY_AuditActivity_Proxy.txt"), "\x00\x01\x02\n\xff\xfe")
	writeFile(t, filepath.Join(dir, "EMPTY_AuditActivity_Proxy.txt"), "")

	h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}})
	h.waitRebuilt()
	h.waitRows(2)
	require.Equal(t, keyRange("SENSE2", 1, 2), h.keys())
	require.Equal(t, uint64(2), h.src.Stats().FilesSkipped)
	require.True(t, h.log.contains("E!", "Skipping "+bad+": "+auditlog.ErrNotAuditActivityLog.Error()))
	for _, p := range h.src.Positions() {
		require.Contains(t, p.Path, "SENSE2")
	}

	// The bad file rotates into a good one: it is read.
	require.NoError(t, os.Rename(bad, filepath.Join(dir, "SENSE1_AuditActivity_Proxy_x.log")))
	writeFile(t, bad, header+rows("SENSE1", 1, 1))
	// The empty file gets its header and rows.
	appendFile(t, filepath.Join(dir, "EMPTY_AuditActivity_Proxy.txt"), header+rows("EMPTY", 1, 1))
	h.waitRows(4)
	require.ElementsMatch(t, concat(keyRange("SENSE2", 1, 2), []string{"SENSE1#1", "EMPTY#1"}), h.keys())
}

// A header row mid-file with other columns (the writer reopened the file)
// changes how the rows after it are read; one that is not a header of
// ours makes them malformed until the next.
func TestHeaderMidFile(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	reordered := "Hostname\tTimestamp\tSequence#\tCommand\tUserDirectory\tUserId\tProxySessionId\r\n"
	writeFile(t, live, header+rows("SENSE1", 1, 1)+reordered+
		"SENSE1\t20260302T090000.000+0100\t2\tStart session\tLAB\tbob\tabc\r\n"+
		"Timestamp\tHostname\tSomething\r\n"+
		"x\ty\tz\r\n"+
		header+rows("SENSE1", 3, 3))
	h := start(t, Config{Files: []string{live}})
	h.waitRebuilt()
	got := h.waitRows(4)
	require.Equal(t, "SENSE1#1", got[0].Key)
	require.Equal(t, event.Accepted, got[0].Status)
	require.Equal(t, event.Accepted, got[1].Status)
	require.Equal(t, `LAB\bob`, got[1].User)
	require.Equal(t, "abc", got[1].SessionID)
	require.Equal(t, event.Malformed, got[2].Status)
	require.Equal(t, ReasonNoHeader, got[2].Reason)
	require.Equal(t, "SENSE1#3", got[3].Key)
	require.Equal(t, event.Accepted, got[3].Status)
	require.True(t, h.log.contains("W!", "header row in the middle"))
	appendFile(t, live, rows("SENSE1", 4, 4))
	got = h.waitRows(5)
	require.Equal(t, "SENSE1#4", got[4].Key)
	require.Equal(t, event.Accepted, got[4].Status)
}

// A row the writer never ended is delivered when its file is rotated away
// or read as an archive.
func TestLastRowWithoutLineEnd(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	r2 := row(2, "SENSE1", "Stop session", "anna")
	writeFile(t, live, header+rows("SENSE1", 1, 1)+r2[:len(r2)-2])
	h := start(t, Config{Files: []string{live}})
	h.waitRebuilt()
	h.waitRows(1)
	require.NoError(t, os.Rename(live, filepath.Join(dir, "SENSE1_AuditActivity_Proxy_1.log")))
	got := h.waitRows(2)
	require.Equal(t, "SENSE1#2", got[1].Key)
	require.Equal(t, event.Accepted, got[1].Status)
	require.Equal(t, int64(len(header+rows("SENSE1", 1, 1))+len(r2)-2), got[1].Offset)
}

func TestContextCancelDuringRebuild(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, live, header+rows("SENSE1", 1, 5000))
	src, err := New(Config{Files: []string{live}})
	require.NoError(t, err)
	ctx, cancel := contextWithCancel(t)
	n := 0
	require.NoError(t, src.Run(ctx, func(Row) {
		n++
		if n == 100 {
			cancel()
		}
	}))
	require.Less(t, n, 5000)
	positions := src.Positions()
	require.Len(t, positions, 1)
	// The position is after the last row handled.
	require.Equal(t, int64(len(header+rows("SENSE1", 1, n))), positions[0].Offset)
	require.Equal(t, 0, src.Stats().OpenFiles)
	require.Error(t, src.Run(ctx, func(Row) {}), "Run twice")
}

// requirePosition waits until src's positions hold path, read to its end,
// with the fingerprint of its first bytes.
func requirePosition(t *testing.T, src *Source, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	n := min(len(data), FingerprintBytes)
	want := Position{Path: path, Fingerprint: fingerprint(data[:n]), FingerprintBytes: int64(n), Offset: int64(len(data))}
	require.Eventually(t, func() bool {
		for _, p := range src.Positions() {
			p.Seen = time.Time{}
			if p == want {
				return true
			}
		}
		return false
	}, 10*time.Second, time.Millisecond, "want %v", want)
}

// requireOpenFiles waits until the source holds n files open (a poll holds
// one more for a moment, to compare the path with the file it follows).
func requireOpenFiles(t *testing.T, src *Source, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return src.Stats().OpenFiles == n }, 10*time.Second, time.Millisecond,
		"open files: want %d", n)
}

func requireBufferBytes(t *testing.T, src *Source, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return src.Stats().BufferBytes == n }, 10*time.Second, time.Millisecond,
		"buffer bytes: want %d", n)
}

// Saved positions older than a day still resume their files at start;
// those that no file matched are forgotten once the rebuild is over.
func TestForgetOldPositions(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	done := header + rows("SENSE1", 1, 3)
	writeFile(t, live, done+rows("SENSE1", 4, 4))
	old := time.Now().Add(-48 * time.Hour)
	other := []byte(header + rows("GONE", 1, 1))
	resume := []Position{
		{Path: live, Fingerprint: fingerprint([]byte(done)), FingerprintBytes: int64(len(done)), Offset: int64(len(done)), Seen: old},
		{Path: "gone long ago", Fingerprint: fingerprint(other), FingerprintBytes: int64(len(other)), Offset: int64(len(other)), Seen: old},
		{Path: "gone lately", Fingerprint: fingerprint(other[:100]), FingerprintBytes: 100, Offset: 100, Seen: time.Now().Add(-time.Hour)},
	}
	h := start(t, Config{Files: []string{live}, Resume: resume})
	h.waitRebuilt()
	h.waitRows(1)
	require.Equal(t, []string{"SENSE1#4"}, h.keys())
	positions := h.src.Positions()
	paths := make([]string, 0, len(positions))
	for _, p := range positions {
		paths = append(paths, p.Path)
	}
	require.ElementsMatch(t, []string{live, "gone lately"}, paths)
}

// Several rotations between two polls: files that lived under the live
// name for less than a poll are read from their rotated names, oldest
// first, before the new live file; none is lost, none read twice, and old
// rotated files the start left out stay out.
func TestRotationsWithinOnePoll(t *testing.T) {
	for _, tt := range []struct {
		name string
		// last: the live path names no file after the rotations, until a
		// new one appears later.
		last bool
	}{
		{name: "a new live file follows"},
		{name: "the live path is empty for a while", last: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
			rotated := func(n int) string {
				return filepath.Join(dir, fmt.Sprintf("SENSE1_AuditActivity_Proxy_2026-03-02T08.00.%02dZ.log", n))
			}
			// Left out at start (archive_max_age = 0): older than anything
			// followed, so catching up leaves it alone too.
			writeFile(t, filepath.Join(dir, "SENSE1_AuditActivity_Proxy_2026-03-01T08.00.00Z.log"), header+rows("OLD", 1, 3))
			old := time.Now().Add(-time.Hour)
			require.NoError(t, os.Chtimes(filepath.Join(dir, "SENSE1_AuditActivity_Proxy_2026-03-01T08.00.00Z.log"), old, old))
			writeFile(t, live, header+rows("SENSE1", 1, 2))
			const poll = 300 * time.Millisecond
			h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}, PollInterval: poll})
			h.waitRebuilt()
			h.waitRows(2)

			want := keyRange("SENSE1", 1, 2)
			seq, n := 2, 0
			rotations := 0
			for round := range 3 {
				// Just after a poll read the live file, several rotations,
				// each file with rows, all well within one poll.
				appendFile(t, live, rows("SENSE1", seq+1, seq+1))
				want = append(want, keyRange("SENSE1", seq+1, seq+1)...)
				seq++
				h.waitRows(len(want))
				began := time.Now()
				for range 4 {
					require.NoError(t, os.Rename(live, rotated(n)))
					n++
					rotations++
					writeFile(t, live, header+rows("SENSE1", seq+1, seq+3))
					want = append(want, keyRange("SENSE1", seq+1, seq+3)...)
					seq += 3
				}
				if tt.last {
					require.NoError(t, os.Rename(live, rotated(n)))
					n++
					rotations++
					h.waitPolls(2) // the source sees the path empty
					writeFile(t, live, header+rows("SENSE1", seq+1, seq+1))
					want = append(want, keyRange("SENSE1", seq+1, seq+1)...)
					seq++
				} else if took := time.Since(began); took > poll/2 {
					t.Logf("round %d: the rotations took %s, more than half a poll", round, took)
				}
				got := h.waitRows(len(want))
				require.Equal(t, want, h.keys())
				for _, g := range got[2:] {
					require.False(t, g.Rebuilding, g)
				}
			}
			require.Equal(t, uint64(rotations), h.src.Stats().Rotations)
			requireOpenFiles(t, h.src, 1)

			// The positions know every file: a restart from them reads
			// nothing again, only what comes next. archive_max_age covers
			// the rotated files but not the old one.
			restartReadsOnlyNew(t, h, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}, ArchiveMaxAge: 30 * time.Minute}, live, 500)
		})
	}
}

// A server whose file appears after the start and is rotated before the
// globs are expanded again: its rotated files are read first, in order.
func TestServerAppearsAndRotatesBeforeFound(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt"), header+rows("SENSE1", 1, 2))
	h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}, GlobInterval: time.Second})
	h.waitRebuilt()
	h.waitRows(2)
	live := filepath.Join(dir, "SENSE2_AuditActivity_Proxy.txt")
	for n := range 3 {
		writeFile(t, live, header+rows("SENSE2", 10*n+1, 10*n+3))
		require.NoError(t, os.Rename(live, filepath.Join(dir, fmt.Sprintf("SENSE2_AuditActivity_Proxy_2026-03-02T08.00.%02dZ.log", n))))
	}
	writeFile(t, live, header+rows("SENSE2", 31, 31))
	got := h.waitRows(12)
	require.Equal(t, concat(keyRange("SENSE1", 1, 2), keyRange("SENSE2", 1, 3), keyRange("SENSE2", 11, 13), keyRange("SENSE2", 21, 23), []string{"SENSE2#31"}),
		h.keys())
	for _, g := range got[2:] {
		require.False(t, g.Rebuilding, g)
	}
}

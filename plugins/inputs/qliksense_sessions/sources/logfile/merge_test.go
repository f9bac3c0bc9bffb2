package logfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// mergeFiles writes three servers' files whose rows interleave in time,
// each server in its own UTC offset: A a rotated file beside its live one,
// B an archived file (and a copy of it beside its live one), C only a live
// file whose time stamps go back once, and an archive of C too old to be
// read. It returns the config and the keys in the order the rebuild must
// hand the rows on.
func mergeFiles(t *testing.T) (Config, []string) {
	dir := t.TempDir()
	audit := filepath.Join(dir, "Log", "Proxy", "Audit")
	archive := filepath.Join(dir, "ArchivedLogs")
	base := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	zones := map[string]*time.Location{
		"A": time.FixedZone("", 3600),         // +01:00
		"B": time.FixedZone("", 5*3600+30*60), // +05:30
		"C": time.FixedZone("", -5*3600),      // -05:00
	}
	// seq, second after base (-1: a row the parser ignores, without a time)
	type r struct{ seq, sec int }
	content := func(host string, rs ...r) string {
		var b strings.Builder
		b.WriteString(header)
		for _, x := range rs {
			if x.sec < 0 {
				b.WriteString(rowAt(x.seq, host, base, "Login", "anna"))
				continue
			}
			cmd := "Start session"
			if x.seq%2 == 0 {
				cmd = "Stop session"
			}
			b.WriteString(rowAt(x.seq, host, base.Add(time.Duration(x.sec)*time.Second).In(zones[host]), cmd, "anna"))
		}
		return b.String()
	}
	const bArchive = "B_AuditActivity_Proxy_2026-03-02T06.00.45Z.log"
	files := []struct {
		path string
		age  time.Duration
		data string
	}{
		{filepath.Join(audit, "A_AuditActivity_Proxy_2026-03-02T06.00.30Z.log"), time.Hour, content("A", r{1, 0}, r{2, 10}, r{3, 20})},
		{filepath.Join(archive, "B", "Proxy", "Audit", bArchive), 2 * time.Hour, content("B", r{1, 5}, r{2, 15}, r{3, 45})},
		{filepath.Join(audit, bArchive), 2 * time.Hour, content("B", r{1, 5}, r{2, 15}, r{3, 45})}, // a copy
		{filepath.Join(archive, "C", "Proxy", "Audit", "C_AuditActivity_Proxy_2026-02-28T06.00.00Z.log"), 48 * time.Hour, content("C", r{90, 2})},
		{filepath.Join(audit, "A_AuditActivity_Proxy.txt"), 0, content("A", r{4, 40}, r{5, 50}, r{6, 70})},
		{filepath.Join(audit, "B_AuditActivity_Proxy.txt"), 0, content("B", r{4, 55}, r{5, 60}, r{6, -1}, r{7, 65})},
		{filepath.Join(audit, "C_AuditActivity_Proxy.txt"), 0, content("C", r{1, 1}, r{2, 30}, r{3, 25}, r{4, 35}, r{5, 70})},
	}
	for _, f := range files {
		writeFile(t, f.path, f.data)
		if f.age > 0 {
			at := time.Now().Add(-f.age)
			require.NoError(t, os.Chtimes(f.path, at, at))
		}
	}
	cfg := Config{
		Files:         []string{filepath.Join(audit, "*_AuditActivity_Proxy.txt")},
		ArchiveFiles:  []string{filepath.Join(archive, "*", "Proxy", "Audit", "*.log")},
		ArchiveMaxAge: 24 * time.Hour,
	}
	// C#3 goes back in time and stays after C#2; B#6 has no time and stays
	// after B#5; A#6 and C#5 have the same time: the first live path first.
	want := []string{"A#1", "C#1", "B#1", "A#2", "B#2", "A#3", "C#2", "C#3", "C#4", "A#4", "B#3", "A#5", "B#4", "B#5", "B#6", "B#7", "A#6", "C#5"}
	return cfg, want
}

// The rebuild hands on the rows of all servers' files in time-stamp order
// (whatever UTC offset each writes), each file's rows in file order.
func TestRebuildMergesFilesInTimeOrder(t *testing.T) {
	cfg, want := mergeFiles(t)
	h := start(t, cfg)
	h.waitRebuilt()
	got := h.waitRows(len(want))
	require.Equal(t, want, h.keys())
	var last time.Time
	for _, g := range got {
		require.True(t, g.Rebuilding, g)
		if g.Key == "B#6" {
			require.Equal(t, event.Ignored, g.Status)
			continue
		}
		require.Equal(t, event.Accepted, g.Status, g)
		if g.Key != "C#3" {
			require.False(t, g.Time.Before(last), "%s at %s comes after %s", g.Key, g.Time, last)
			last = g.Time
		}
	}
	// The too old archive is not read, the copy of B's archive only once;
	// positions: A's rotated, B's archived, the three live files.
	require.Len(t, h.src.Positions(), 5)
	requireOpenFiles(t, h.src, 3)
}

// While the rebuild merges, the positions are after exactly the rows handed
// on from each file; a restart from them mid-way hands on each remaining
// row once, still in time order.
func TestRebuildMergeCheckpoints(t *testing.T) {
	cfg, want := mergeFiles(t)
	src, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	delivered := make(map[string][]int64) // path -> ends of the rows handed on
	var keys []string
	const stopAfter = 9
	require.NoError(t, src.Run(ctx, func(r Row) {
		// Called under the lock Checkpoint takes: the positions now are
		// those a save would take with the effects of the rows before this.
		for _, p := range src.Positions() {
			if ends := delivered[p.Path]; len(ends) > 0 {
				require.Equal(t, ends[len(ends)-1], p.Offset, "%s before %s", filepath.Base(p.Path), r.Line[:8])
			} else {
				require.Contains(t, []int64{0, int64(len(header))}, p.Offset, "%s: no row of it was handed on", filepath.Base(p.Path))
			}
		}
		delivered[r.Path] = append(delivered[r.Path], r.Offset)
		keys = append(keys, key(r.Line))
		if len(keys) == stopAfter {
			cancel()
		}
	}))
	require.Equal(t, want[:stopAfter], keys)
	require.Zero(t, src.Stats().OpenFiles)

	cfg.Resume = src.Positions()
	h := start(t, cfg)
	h.waitRebuilt()
	h.waitRows(len(want) - stopAfter)
	require.Equal(t, want[stopAfter:], h.keys())
}

// Files whose times do not overlap are read one after the other: the merge
// holds one read buffer at a time for a server's rotated files.
func TestRebuildMergeBuffersOnlyOverlappingFiles(t *testing.T) {
	dir := t.TempDir()
	for i := range 6 {
		var b strings.Builder
		b.WriteString(header)
		for j := range 50 {
			seq := i*100 + j
			b.WriteString(rowAt(seq, "SENSE1", t0.Add(time.Duration(seq)*time.Second), "Start session", fmt.Sprintf("u%d", seq)))
		}
		path := filepath.Join(dir, fmt.Sprintf("SENSE1_AuditActivity_Proxy_%d.log", i))
		writeFile(t, path, b.String())
		at := time.Now().Add(-time.Duration(10-i) * time.Minute)
		require.NoError(t, os.Chtimes(path, at, at))
	}
	writeFile(t, filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt"), header+rowAt(1000, "SENSE1", t0.Add(time.Hour), "Start session", "last"))
	src, err := New(Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}, ArchiveMaxAge: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-src.Rebuilt()
		cancel()
	}()
	n := 0
	require.NoError(t, src.Run(ctx, func(Row) {
		n++
		require.Equal(t, int64(bufSize), src.Stats().BufferBytes, "row %d", n)
	}))
	require.Equal(t, 301, n)
}

// key is Hostname#Sequence of a row, or the line for rows without them.
func key(line []byte) string {
	if fields := strings.Split(string(line), "\t"); len(fields) > 3 {
		return fields[3] + "#" + fields[0]
	}
	return string(line)
}

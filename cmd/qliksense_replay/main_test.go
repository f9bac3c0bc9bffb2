package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"-version"}, &stdout, &stderr))
	require.Regexp(t, `^qliksense_replay \S+ \(commit \S+, go\S+, `+runtime.GOOS+"/"+runtime.GOARCH+`(, Telegraf \S+)?\)\n$`, stdout.String())
	require.Empty(t, stderr.String())
}

// -logdir writes the simulation as rotated audit activity log files; what
// it prints is what the replay's reader and model of the plugin make of
// them.
func TestLogDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Proxy", "Audit")
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"-logdir", dir, "-users", "80", "-servers", "2", "-events", "5000", "-seed", "4",
		"-preexisting", "10", "-rotate-bytes", "64KB", "-start-time", "2026-02-25T08:15:12.123+01:00", "-clock-rate", "50",
		"-exclude", `INTERNAL\sa_scheduler`}, &stdout, &stderr))
	require.Regexp(t, `^wrote 5000 events \(and \d+ rows to ignore\) to .* files started, \d+ rotated, \d+ bytes; `+
		`clock 20260225T081512.123\+0100 to 20260225T081652.103\+0100\n$`, stderr.String())
	var expected replay.Expected
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &expected))
	require.Equal(t, 5000, expected.EventsSent)
	require.NotZero(t, expected.ActiveUsers)

	fromModel, err := replay.ExpectFromLogDir(dir, `INTERNAL\sa_scheduler`)
	require.NoError(t, err)
	require.Equal(t, expected.ActiveUsers, fromModel.ActiveUsers)
	require.Equal(t, expected.ActiveSessions, fromModel.ActiveSessions)
	require.Equal(t, expected.Users, fromModel.Users)
	require.Equal(t, expected.Servers, fromModel.Servers)
	require.Equal(t, expected.Apps, fromModel.Apps)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Greater(t, len(entries), 10, "rotated at 64 KiB")
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		require.LessOrEqual(t, info.Size(), int64(64<<10))
		require.Regexp(t, `^SENSE[12]_AuditActivity_Proxy(\.txt|_2026-02-25T07\.\d\d\.\d\dZ\.log)$`, e.Name())
	}

	// Run again: the live files of the first run are rotated (a restart).
	stdout.Reset()
	stderr.Reset()
	require.NoError(t, run([]string{"-logdir", dir, "-servers", "2", "-events", "10", "-rotate-bytes", "0", "-noise", "0",
		"-start-time", "20260225T091512.123+0100"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "wrote 10 events (and 0 rows to ignore)")
	again, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, again, len(entries)+2)
}

// Paced, every row is in the file as soon as it is written.
func TestLogDirPacedFlushesEachRow(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"-logdir", dir, "-servers", "1", "-events", "20", "-rate", "200", "-noise", "0", "-expect", os.DevNull}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "wrote 20 events")
	logs, err := replay.ReadLogDir(dir)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Len(t, logs[0].Events, 20)
	// -clock-rate defaults to -rate: 200 per second.
	require.Equal(t, 5*time.Millisecond, logs[0].Events[1].Time.Sub(logs[0].Events[0].Time).Round(time.Millisecond))
}

func TestFlagErrors(t *testing.T) {
	for args, want := range map[string]string{
		"-logdir x -file y":                "-file does not go with it",
		"-logdir x -addr 127.0.0.1:1":      "-addr does not go with it",
		"-rotate-bytes 1MB":                "-rotate-bytes goes with -logdir",
		"-logdir x -rotate-bytes lots":     "-rotate-bytes",
		"-logdir x -start-time yesterday":  "-start-time",
		"-logdir x -noise 1.5":             "-noise must be 0 to 1",
		"-logdir x -rotate-age -1s":        "-rotate-age must not be negative",
		"-start-time 2026-02-25T08:00:00Z": "-start-time goes with -logdir",
		"-logdir x -clock-rate -1":         "-clock-rate must not be negative",
	} {
		var stdout, stderr bytes.Buffer
		parts := strings.Fields(args)
		if parts[0] == "-logdir" {
			parts[1] = filepath.Join(t.TempDir(), parts[1])
		}
		err := run(parts, &stdout, &stderr)
		require.ErrorContains(t, err, want, args)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "100": 100, "64KB": 64 << 10, "8MB": 8 << 20, "8 MiB": 8 << 20, "1GB": 1 << 30, "12B": 12} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "1.5MB", "MB", "9999999999GB"} {
		_, err := parseSize(in)
		require.Error(t, err, in)
	}
}

func TestFreePort(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"-free-port"}, &stdout, &stderr))
	port, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	require.NoError(t, err)
	conn, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err, "the port is free")
	conn.Close()
}

// Nobody listens yet: the tool does not stop at "connection refused", it
// reports the refused sends.
func TestSendBeforeAnyoneListens(t *testing.T) {
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	addr := probe.LocalAddr().String()
	require.NoError(t, probe.Close())
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"-addr", addr, "-events", "300"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "sent 300 events")
	if runtime.GOOS == "linux" {
		require.Regexp(t, `warning: \d+ sends were refused \(connection refused: at least \d+ datagrams found nobody listening on `+
			regexp.QuoteMeta(addr), stderr.String())
	}
	require.Contains(t, stdout.String(), `"events_sent":300`)
}

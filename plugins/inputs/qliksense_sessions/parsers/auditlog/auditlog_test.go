package auditlog

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from what the parser makes of testdata/*.txt")

// notActivityLogs are testdata files whose header ParseHeader must refuse.
var notActivityLogs = []string{"SENSE1_Audit_Proxy.txt"}

// testdataFiles lists the testdata logs that ParseHeader accepts.
func testdataFiles(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob("testdata/*.txt")
	require.NoError(t, err)
	var files []string
	for _, name := range names {
		if !slices.Contains(notActivityLogs, filepath.Base(name)) {
			files = append(files, name)
		}
	}
	require.NotEmpty(t, files)
	return files
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	return data
}

// splitLines splits a file after each LF, keeping any CR, as a reader that
// strips only the LF would hand the lines over.
func splitLines(data []byte) [][]byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		lines[i] = bytes.TrimSuffix(line, []byte("\n"))
	}
	return lines
}

// replay reads a log as a file source does (ParseHeader on the first row,
// Parse on the others, ParseHeader again on ReasonHeader), checks every row
// against the reference parser, and describes each row in one line.
func replay(t testing.TB, data []byte) []string {
	t.Helper()
	var out []string
	var h *Header
	var ref *refHeader
	for i, line := range splitLines(data) {
		n := i + 1
		if h != nil {
			status, reason, ev := checkAgainstReference(t, h, ref, line)
			require.Equal(t, reason == ReasonHeader, IsHeader(line), "line %d: IsHeader and Parse disagree", n)
			if reason != ReasonHeader {
				out = append(out, describe(n, status, reason, &ev))
				continue
			}
		}
		var err error
		h, err = ParseHeader(line)
		require.NoError(t, err, "line %d", n)
		require.True(t, IsHeader(line), "line %d", n)
		var ok bool
		ref, ok = referenceHeader(line)
		require.True(t, ok, "line %d: the reference refuses the header", n)
		out = append(out, fmt.Sprintf("%d header, %d columns", n, len(h.Columns())))
	}
	return out
}

func describe(n int, status event.Status, reason string, ev *event.Event) string {
	switch status {
	case Accepted:
		return fmt.Sprintf("%d accepted %s server=%s user=%s session=%s time=%s origin=%s context=%s message=%s",
			n, ev.Command.EventName(), short(ev.Server), short(ev.UserName()), short(ev.SessionID),
			ev.Time.Format("2006-01-02T15:04:05.999999999Z07:00"), short(ev.Origin), short(ev.Context), short(ev.Message))
	case Ignored:
		return fmt.Sprintf("%d ignored: %s", n, reason)
	default:
		return fmt.Sprintf("%d malformed: %s", n, reason)
	}
}

// short quotes s, abridged if long.
func short(s string) string {
	if len(s) <= 160 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...%q (%d bytes)", s[:60], s[len(s)-20:], len(s))
}

// TestTestdataFiles replays every testdata log and compares what becomes of
// each row with its .golden file (go test -update rewrites them).
func TestTestdataFiles(t *testing.T) {
	for _, file := range testdataFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			got := strings.Join(replay(t, readFile(t, file)), "\n") + "\n"
			golden := strings.TrimSuffix(file, ".txt") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644)) //nolint:gosec // G306: a golden file is checked in, readable as the others
			}
			require.Equal(t, string(readFile(t, golden)), got)
		})
	}
}

// TestTestdataCovers checks that the testdata logs hold what the parser must
// cope with.
func TestTestdataCovers(t *testing.T) {
	features := map[string]bool{}
	note := func(feature string, ok bool) {
		if ok {
			features[feature] = true
		}
	}
	reasons := map[string]bool{}
	for _, file := range testdataFiles(t) {
		data := readFile(t, file)
		note("CR LF line ends", bytes.Contains(data, []byte("\r\n")))
		note("LF line ends", bytes.Contains(data, []byte("\n")) && !bytes.Contains(data, []byte("\r\n")))
		note("BOM before the header", bytes.HasPrefix(data, []byte("\ufeff")))
		note("no BOM", !bytes.HasPrefix(data, []byte("\ufeff")))
		var h *Header
		for _, line := range splitLines(data) {
			if h == nil || IsHeader(line) {
				note("header after the first row (rotation)", h != nil)
				var err error
				h, err = ParseHeader(line)
				require.NoError(t, err)
				names := strings.ToLower(strings.Join(h.Columns(), "\t"))
				note("no Command column", h.pos[colCommand] < 0)
				note("no Result column", h.pos[colResult] < 0)
				note("unknown columns", strings.Contains(names, "severity"))
				note("columns in another order", h.pos[colTimestamp] > h.pos[colHostname])
				note("column names in another case", !strings.Contains(strings.Join(h.Columns(), "\t"), "Hostname"))
				continue
			}
			var ev event.Event
			status, reason := h.Parse(line, &ev)
			reasons[reason] = true
			s := string(line)
			note("offset +hhmm", status == Accepted && strings.Contains(s, "+0100\t"))
			note("offset +hh:mm", status == Accepted && strings.Contains(s, "+01:00\t"))
			note("offset -hh:mm", status == Accepted && strings.Contains(s, "-05:00\t"))
			note("offset Z", status == Accepted && strings.Contains(s, "Z\t"))
			note("ProxySessionId 0", status == Accepted && strings.Contains(s, "\t0\t") && ev.SessionID == "")
			note("session id", ev.SessionID != "")
			note("non-ASCII user", status == Accepted && !isASCII(ev.UserID))
			note("field longer than 10 kB", status == Accepted && len(ev.Message) > 10000)
			note("command from Description", status == Accepted && h.pos[colCommand] < 0)
			note("failed per Description", reason == ReasonFailed && h.pos[colResult] < 0)
			note("failed per Result column", reason == ReasonFailed && h.pos[colResult] >= 0)
			if status == Accepted {
				// Each command as Qlik spells it.
				note(ev.Command.String(), strings.Contains(s, "\t"+ev.Command.String()+"\t") || strings.Contains(s, "Command="+ev.Command.String()+";"))
			}
		}
	}
	for _, feature := range []string{
		"CR LF line ends", "LF line ends", "BOM before the header", "no BOM", "header after the first row (rotation)",
		"no Command column", "no Result column", "unknown columns", "columns in another order", "column names in another case",
		"offset +hhmm", "offset +hh:mm", "offset -hh:mm", "offset Z", "ProxySessionId 0", "session id", "non-ASCII user",
		"field longer than 10 kB", "command from Description", "failed per Description", "failed per Result column",
		"Start session", "Stop session", "Open connection", "Close connection",
	} {
		require.True(t, features[feature], "no testdata row with %s", feature)
	}
	for _, reason := range []string{
		ReasonNone, ReasonEmpty, ReasonTooFewFields, ReasonTooManyFields, ReasonNotUTF8, ReasonControl, ReasonBadTimestamp,
		ReasonBadResult, ReasonFailed, ReasonNoCommand, ReasonUnknownCommand, ReasonEmptyServer, ReasonEmptyDirectory, ReasonEmptyUser,
	} {
		require.True(t, reasons[reason], "no testdata row for %q", reason)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// shuffleColumns permutes the columns of every header row and of the data
// rows below it that have as many fields, the same way; the byte order
// mark stays first and line ends stay last.
func shuffleColumns(data []byte, rng *rand.Rand) []byte {
	var out bytes.Buffer
	var perm []int
	for _, line := range splitLines(data) {
		s := string(line)
		bom := strings.HasPrefix(s, "\ufeff")
		s = strings.TrimPrefix(s, "\ufeff")
		body := strings.TrimRight(s, "\r")
		end := s[len(body):]
		fields := strings.Split(body, "\t")
		if IsHeader(line) {
			perm = rng.Perm(len(fields))
		}
		if len(fields) == len(perm) {
			shuffled := make([]string, len(fields))
			for i, j := range perm {
				shuffled[i] = fields[j]
			}
			fields = shuffled
		}
		if bom {
			out.WriteString("\ufeff")
		}
		out.WriteString(strings.Join(fields, "\t") + end + "\n")
	}
	return out.Bytes()
}

// TestColumnsMappedByName shuffles the columns of every testdata log and
// requires the same outcome for every row.
func TestColumnsMappedByName(t *testing.T) {
	for _, file := range testdataFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data := readFile(t, file)
			want := replay(t, data)
			for seed := uint64(1); seed <= 25; seed++ {
				shuffled := shuffleColumns(data, rand.New(rand.NewPCG(seed, 2026)))
				require.Equal(t, want, replay(t, shuffled), "seed %d", seed)
			}
		})
	}
}

// header builds a header row and a function that makes data rows of it
// from column values by name.
func header(columns ...string) (string, func(map[string]string) string) {
	return strings.Join(columns, "\t"), func(values map[string]string) string {
		fields := make([]string, len(columns))
		for i, c := range columns {
			fields[i] = values[c]
		}
		return strings.Join(fields, "\t")
	}
}

func TestParse(t *testing.T) {
	hdr, row := header("Sequence#", "Timestamp", "Hostname", "Description", "ProxySessionId", "UserDirectory", "UserId", "Origin", "Context", "Command",
		"Result", "Message")
	h, err := ParseHeader([]byte(hdr))
	require.NoError(t, err)
	descOnly, descRow := header("Timestamp", "Hostname", "Description", "ProxySessionId", "UserDirectory", "UserId")
	hDesc, err := ParseHeader([]byte(descOnly))
	require.NoError(t, err)

	// with returns a row of good values with some changed.
	with := func(changes ...string) map[string]string {
		v := map[string]string{
			"Sequence#": "17", "Timestamp": "20190228T101010.123+0100", "Hostname": "SENSE1",
			"Description": "Command=Start session;Result=0;ResultText=Success", "ProxySessionId": "2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01",
			"UserDirectory": "LAB", "UserId": "anna", "Origin": "AppAccess", "Context": "/hub/", "Command": "Start session", "Result": "0",
			"Message": `Start session for user 'LAB\anna'`,
		}
		for i := 0; i < len(changes); i += 2 {
			v[changes[i]] = changes[i+1] //nolint:gosec // G602: changes come as name, value pairs
		}
		return v
	}
	plus1 := time.FixedZone("", 3600)
	base := event.Event{
		Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "anna", Origin: "AppAccess", Context: "/hub/",
		Message: `Start session for user 'LAB\anna'`, SessionID: "2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01",
		Time: time.Date(2019, 2, 28, 10, 10, 10, 123e6, plus1),
	}
	// changed returns base with some changes.
	changed := func(change func(*event.Event)) event.Event {
		ev := base
		if change != nil {
			change(&ev)
		}
		return ev
	}

	tests := []struct {
		name   string
		h      *Header
		line   string
		status event.Status
		reason string
		want   event.Event
	}{
		{name: "start session", line: row(with()), want: base},
		{name: "stop session", line: row(with("Command", "Stop session")), want: changed(func(e *event.Event) { e.Command = event.StopSession })},
		{name: "open connection", line: row(with("Command", "Open connection")), want: changed(func(e *event.Event) { e.Command = event.OpenConnection })},
		{name: "close connection", line: row(with("Command", "Close connection")), want: changed(func(e *event.Event) { e.Command = event.CloseConnection })},
		{name: "command in another case", line: row(with("Command", "sTOP SESSION")), want: changed(func(e *event.Event) { e.Command = event.StopSession })},

		// Line ends and the byte order mark.
		{name: "CR LF", line: row(with()) + "\r\n", want: base},
		{name: "LF", line: row(with()) + "\n", want: base},
		{name: "CR", line: row(with()) + "\r", want: base},
		{name: "byte order mark before a data row", line: "\ufeff" + row(with()), want: base},

		// Time stamps.
		{name: "offset +hh:mm", line: row(with("Timestamp", "20190228T101010.123+01:00")), want: base},
		{name: "offset Z", line: row(with("Timestamp", "20190228T091010.123Z")),
			want: changed(func(e *event.Event) { e.Time = time.Date(2019, 2, 28, 9, 10, 10, 123e6, time.UTC) })},
		{name: "offset -05:00", line: row(with("Timestamp", "20190228T041010.123-05:00")),
			want: changed(func(e *event.Event) { e.Time = time.Date(2019, 2, 28, 4, 10, 10, 123e6, time.FixedZone("", -5*3600)) })},
		{name: "offset +0530", line: row(with("Timestamp", "20190228T144010.123+0530")), want: changed(func(e *event.Event) {
			e.Time = time.Date(2019, 2, 28, 14, 40, 10, 123e6, time.FixedZone("", 5*3600+1800))
		})},
		{name: "offset -0000", line: row(with("Timestamp", "20190228T091010.123-0000")),
			want: changed(func(e *event.Event) { e.Time = time.Date(2019, 2, 28, 9, 10, 10, 123e6, time.UTC) })},
		{name: "no fraction", line: row(with("Timestamp", "20190228T101010+0100")),
			want: changed(func(e *event.Event) { e.Time = time.Date(2019, 2, 28, 10, 10, 10, 0, plus1) })},
		{name: "one fraction digit", line: row(with("Timestamp", "20190228T101010.5+0100")),
			want: changed(func(e *event.Event) { e.Time = time.Date(2019, 2, 28, 10, 10, 10, 5e8, plus1) })},
		{name: "nine fraction digits", line: row(with("Timestamp", "20190228T101010.123456789+0100")),
			want: changed(func(e *event.Event) { e.Time = time.Date(2019, 2, 28, 10, 10, 10, 123456789, plus1) })},
		{name: "leap day", line: row(with("Timestamp", "20200229T235959.999+0100")),
			want: changed(func(e *event.Event) { e.Time = time.Date(2020, 2, 29, 23, 59, 59, 999e6, plus1) })},
		{name: "blanks around the time stamp", line: row(with("Timestamp", " 20190228T101010.123+0100 ")), want: base},

		// Where the command and the result come from.
		{name: "Command column wins over Description", line: row(with("Description", "Command=Stop session;Result=0")), want: base},
		{name: "empty Command column: Description's", line: row(with("Command", "", "Description", "Command=Stop session;Result=0")),
			want: changed(func(e *event.Event) { e.Command = event.StopSession })},
		{name: "Result column wins over Description", line: row(with("Description", "Command=Start session;Result=5")), want: base},
		{name: "empty Result column: Description's", line: row(with("Result", "", "Description", "Command=Start session;Result=5")), status: Ignored,
			reason: ReasonFailed},
		{name: "no result anywhere", line: row(with("Result", "", "Description", "")), want: base},
		{name: "Result -0", line: row(with("Result", "-0")), want: base},
		{name: "Result 000", line: row(with("Result", "000")), want: base},
		{name: "Result +0 with blanks", line: row(with("Result", " +0 ")), want: base},
		{name: "description only", h: hDesc, line: descRow(with("Description", "Command=Open connection;Result=0;ResultText=Success")),
			want: changed(func(e *event.Event) {
				e.Command = event.OpenConnection
				e.Origin, e.Context, e.Message = "", "", ""
			})},
		{name: "description keys in any case and order", h: hDesc, line: descRow(with("Description", " result = 0 ; COMMAND = close connection ")),
			want: changed(func(e *event.Event) {
				e.Command = event.CloseConnection
				e.Origin, e.Context, e.Message = "", "", ""
			})},
		{name: "ResultText ends the description", h: hDesc, line: descRow(with("Description", "Command=Stop session;ResultText=a;Result=1;Command=Login")),
			want: changed(func(e *event.Event) { e.Command = event.StopSession; e.Origin, e.Context, e.Message = "", "", "" })},

		// Session ids.
		{name: "ProxySessionId 0", line: row(with("ProxySessionId", "0")), want: changed(func(e *event.Event) { e.SessionID = "" })},
		{name: "ProxySessionId empty", line: row(with("ProxySessionId", "")), want: changed(func(e *event.Event) { e.SessionID = "" })},
		{name: "ProxySessionId 0 with blanks", line: row(with("ProxySessionId", " 0 ")), want: changed(func(e *event.Event) { e.SessionID = "" })},
		{name: "ProxySessionId 00 is an id", line: row(with("ProxySessionId", "00")), want: changed(func(e *event.Event) { e.SessionID = "00" })},
		{name: "salted-hash session id", line: row(with("ProxySessionId", "3f9c0a5e7b1d2c4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e")),
			want: changed(func(e *event.Event) {
				e.SessionID = "3f9c0a5e7b1d2c4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e"
			})},

		// Blanks around fields, non-ASCII names, a message with ';' and quotes.
		{name: "blanks around fields", line: row(with("Hostname", "  SENSE1 ", "UserDirectory", "\u00a0LAB\u00a0", "UserId", "\u3000anna", "Command",
			" Start session ")), want: base},
		{name: "non-ASCII names", line: row(with("UserDirectory", "MÜNCHEN", "UserId", "Jürgen.Weiß")),
			want: changed(func(e *event.Event) { e.Directory, e.UserID = "MÜNCHEN", "Jürgen.Weiß" })},
		{name: "message with ';', '=' and quotes", line: row(with("Message", `a;b='c';"d"`)),
			want: changed(func(e *event.Event) { e.Message = `a;b='c';"d"` })},
		{name: "control character in a column not read", line: row(with("Sequence#", "1\x00")), want: base},
		{name: "invalid UTF-8 in a column not read", line: row(with("Sequence#", "\xff")), want: base},

		// Ignored.
		{name: "failed command", line: row(with("Result", "403")), status: Ignored, reason: ReasonFailed},
		{name: "failed with a negative code", line: row(with("Result", "-2147467259")), status: Ignored, reason: ReasonFailed},
		{name: "failed with a huge code", line: row(with("Result", "99999999999999999999999")), status: Ignored, reason: ReasonFailed},
		{name: "failed command without a user", line: row(with("Result", "1", "UserId", "")), status: Ignored, reason: ReasonFailed},
		{name: "another command", line: row(with("Command", "Login")), status: Ignored, reason: ReasonUnknownCommand},
		{name: "another command without a user", line: row(with("Command", "Logout", "UserId", "", "UserDirectory", "")), status: Ignored,
			reason: ReasonUnknownCommand},
		{name: "no command", line: row(with("Command", "", "Description", "Result=0")), status: Ignored, reason: ReasonNoCommand},
		{name: "no command, description of prose", h: hDesc, line: descRow(with("Description", "Session started")), status: Ignored, reason: ReasonNoCommand},

		// Malformed.
		{name: "empty", line: "", status: Malformed, reason: ReasonEmpty},
		{name: "CR LF only", line: "\r\n", status: Malformed, reason: ReasonEmpty},
		{name: "blanks only", line: " \t \t", status: Malformed, reason: ReasonEmpty},
		{name: "byte order mark only", line: "\ufeff\r\n", status: Malformed, reason: ReasonEmpty},
		{name: "too few fields", line: "20190228T101010.123+0100\tSENSE1", status: Malformed, reason: ReasonTooFewFields},
		{name: "too many fields", line: row(with("Message", "a\tb")), status: Malformed, reason: ReasonTooManyFields},
		{name: "the same header again", line: hdr, status: Malformed, reason: ReasonHeader},
		{name: "the same header again, BOM and CR LF", line: "\ufeff" + hdr + "\r\n", status: Malformed, reason: ReasonHeader},
		{name: "another header", line: "Sequence#\tTimestamp\tHostname\tId", status: Malformed, reason: ReasonHeader},
		{name: "another header of as many columns", line: strings.ToLower(strings.Replace(hdr, "Sequence#", "Extra", 1)), status: Malformed,
			reason: ReasonHeader},
		{name: "bad time stamp", line: row(with("Timestamp", "2019-02-28T10:10:10.123+01:00")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "empty time stamp", line: row(with("Timestamp", "")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "30 February", line: row(with("Timestamp", "20190230T101010.123+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "29 February 2100", line: row(with("Timestamp", "21000229T101010.123+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "hour 24", line: row(with("Timestamp", "20190228T241010.123+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "second 60", line: row(with("Timestamp", "20190228T101060.123+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "offset +24:00", line: row(with("Timestamp", "20190228T101010.123+24:00")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "offset +01:60", line: row(with("Timestamp", "20190228T101010.123+01:60")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "no offset", line: row(with("Timestamp", "20190228T101010.123")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "offset of hours only", line: row(with("Timestamp", "20190228T101010.123+01")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "ten fraction digits", line: row(with("Timestamp", "20190228T101010.1234567890+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "decimal comma", line: row(with("Timestamp", "20190228T101010,123+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "point without digits", line: row(with("Timestamp", "20190228T101010.+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "lower-case t", line: row(with("Timestamp", "20190228t101010.123+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "lower-case z", line: row(with("Timestamp", "20190228T101010.123z")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "full-width digit", line: row(with("Timestamp", "２0190228T101010.123+0100")), status: Malformed, reason: ReasonBadTimestamp},
		{name: "Result not a number", line: row(with("Result", "OK")), status: Malformed, reason: ReasonBadResult},
		{name: "Result a sign only", line: row(with("Result", "-")), status: Malformed, reason: ReasonBadResult},
		{name: "Result hexadecimal", line: row(with("Result", "0x0")), status: Malformed, reason: ReasonBadResult},
		{name: "Description's Result not a number", line: row(with("Result", "", "Description", "Command=Start session;Result=;x")), want: base},
		{name: "Description's Result a word", line: row(with("Result", "", "Description", "Command=Start session;Result=ok")), status: Malformed,
			reason: ReasonBadResult},
		{name: "empty host", line: row(with("Hostname", "")), status: Malformed, reason: ReasonEmptyServer},
		{name: "blank host", line: row(with("Hostname", " \u00a0 ")), status: Malformed, reason: ReasonEmptyServer},
		{name: "empty directory", line: row(with("UserDirectory", "")), status: Malformed, reason: ReasonEmptyDirectory},
		{name: "empty user", line: row(with("UserId", "")), status: Malformed, reason: ReasonEmptyUser},
		{name: "Latin-1 user", line: row(with("UserId", "J\xf6rg")), status: Malformed, reason: ReasonNotUTF8},
		{name: "truncated UTF-8 in the message", line: row(with("Message", "abc\xe2\x82")), status: Malformed, reason: ReasonNotUTF8},
		{name: "UTF-16 surrogate half", line: row(with("Context", "\xed\xa0\x80")), status: Malformed, reason: ReasonNotUTF8},
		{name: "escape in a user id", line: row(with("UserId", "anna\x1b[31m")), status: Malformed, reason: ReasonControl},
		{name: "NUL in a host", line: row(with("Hostname", "SENSE1\x00")), status: Malformed, reason: ReasonControl},
		{name: "DEL in the command", line: row(with("Command", "Start session\x7f")), status: Malformed, reason: ReasonControl},
		{name: "CR inside a field", line: row(with("UserId", "an\rna")), status: Malformed, reason: ReasonControl},
		{name: "C1 next line in the context", line: row(with("Context", "/hub/\u0085")), status: Malformed, reason: ReasonControl},
		{name: "control character in a failed row", line: row(with("Result", "1", "Message", "\x07")), status: Malformed, reason: ReasonControl},
		{name: "control character in the description", line: row(with("Description", "Command=Start session\x0b")), status: Malformed, reason: ReasonControl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hh := tt.h
			if hh == nil {
				hh = h
			}
			// A used event: Parse must not leave anything of it behind.
			got := base
			status, reason := hh.Parse([]byte(tt.line), &got)
			require.Equal(t, tt.status, status, "reason: %s", reason)
			require.Equal(t, tt.reason, reason)
			if status == Accepted {
				requireSameEvent(t, tt.want, got)
			} else {
				require.Equal(t, event.Event{}, got)
			}
			// The reference agrees.
			ref, ok := referenceHeader([]byte(strings.Join(hh.Columns(), "\t")))
			require.True(t, ok)
			checkAgainstReference(t, hh, ref, []byte(tt.line))
		})
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	hdr, row := header("Sequence#", "Timestamp", "Hostname", "Description", "ProxySessionId", "UserDirectory", "UserId", "Origin", "Context", "Command",
		"Result", "Message")
	h, err := ParseHeader([]byte(hdr))
	require.NoError(t, err)
	good := map[string]string{
		"Sequence#": "1", "Timestamp": "20190228T101010.123+0100", "Hostname": "SENSE1", "Description": "Command=Start session;Result=0;ResultText=Success",
		"ProxySessionId": "s", "UserDirectory": "MÜNCHEN", "UserId": "Jürgen", "Origin": "AppAccess", "Context": "/hub/", "Command": "Start session",
		"Result": "0", "Message": "m",
	}
	with := func(k, v string) string {
		m := map[string]string{}
		for key, value := range good {
			m[key] = value
		}
		m[k] = v
		return row(m) + "\r\n"
	}
	lines := []string{
		row(good) + "\r\n",
		"\ufeff" + with("Timestamp", "20230326T040000.000-05:30"),
		with("Timestamp", "20230326T040000.000Z"),
		with("Command", ""),
		with("Result", "7"),
		with("Command", "Login"),
		with("Result", "x"),
		with("Timestamp", "x"),
		with("UserId", ""),
		with("UserId", "\xff"),
		with("UserId", "\x01"),
		with("Message", "a\tb"),
		hdr + "\r\n",
		"",
		"a\tb",
	}
	var ev event.Event
	for _, line := range lines {
		b := []byte(line)
		require.Zero(t, testing.AllocsPerRun(100, func() { h.Parse(b, &ev) }), "%q", line)
	}
	b := []byte(lines[0])
	require.Zero(t, testing.AllocsPerRun(100, func() { IsHeader(b) }))
}

// TestParseAliasesTheLine pins the documented zero-copy contract.
func TestParseAliasesTheLine(t *testing.T) {
	data := readFile(t, "testdata/SENSE1_AuditActivity_Proxy.txt")
	lines := splitLines(data)
	h, err := ParseHeader(lines[0])
	require.NoError(t, err)
	var ev event.Event
	status, reason := h.Parse(lines[2], &ev)
	require.Equal(t, Accepted, status, reason)
	first := uintptr(unsafe.Pointer(&lines[2][0])) //nolint:gosec // G103: the test checks where the fields point
	last := first + uintptr(len(lines[2]))
	for _, s := range []string{ev.Server, ev.Directory, ev.UserID, ev.Origin, ev.Context, ev.Message, ev.SessionID} {
		require.NotEmpty(t, s)
		p := uintptr(unsafe.Pointer(unsafe.StringData(s))) //nolint:gosec // G103: the test checks where the fields point
		require.True(t, p >= first && p+uintptr(len(s)) <= last, "%q does not alias the line", s)
	}
}

// TestVeryLongFields: fields of a megabyte are read whole.
func TestVeryLongFields(t *testing.T) {
	hdr, row := header("Timestamp", "Hostname", "ProxySessionId", "UserDirectory", "UserId", "Context", "Command", "Message")
	h, err := ParseHeader([]byte(hdr))
	require.NoError(t, err)
	context := "/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d?" + strings.Repeat("select=Region,Nordic&", 50000)
	message := strings.Repeat("Ünïcödé ", 150000)
	user := strings.Repeat("u", 1<<20)
	line := []byte(row(map[string]string{
		"Timestamp": "20190228T101010.123+0100", "Hostname": "SENSE1", "ProxySessionId": "s", "UserDirectory": "LAB", "UserId": user,
		"Context": context, "Command": "Open connection", "Message": message,
	}) + "\r\n")
	var ev event.Event
	status, reason := h.Parse(line, &ev)
	require.Equal(t, Accepted, status, reason)
	require.Equal(t, context, ev.Context)
	require.Equal(t, strings.TrimSpace(message), ev.Message)
	require.Equal(t, user, ev.UserID)
	ref, ok := referenceHeader([]byte(hdr))
	require.True(t, ok)
	checkAgainstReference(t, h, ref, line)
	require.Zero(t, testing.AllocsPerRun(5, func() { h.Parse(line, &ev) }))
}

// TestRotation: a new file starts with a header of other columns; Parse
// says so, and the new Header reads the rows that follow.
func TestRotation(t *testing.T) {
	oldHeader := "\ufeffSequence#\tTimestamp\tHostname\tDescription\tProxySessionId\tUserDirectory\tUserId\tCommand\r\n"
	newHeader := "\ufeffSequence#\tProductVersion\tTimestamp\tHostname\tDescription\tProxySessionId\tUserDirectory\tUserId\tSecurityClass\tCommand\tResult\r\n"
	h, err := ParseHeader([]byte(oldHeader))
	require.NoError(t, err)
	var ev event.Event
	status, reason := h.Parse([]byte("1\t20190228T101010.123+0100\tSENSE1\t\ts1\tLAB\tanna\tStart session\r\n"), &ev)
	require.Equal(t, Accepted, status, reason)
	for _, line := range []string{oldHeader, newHeader} {
		status, reason = h.Parse([]byte(line), &ev)
		require.Equal(t, Malformed, status)
		require.Equal(t, ReasonHeader, reason)
	}
	h, err = ParseHeader([]byte(newHeader))
	require.NoError(t, err)
	status, reason = h.Parse([]byte("1\t14.0\t20190228T111010.123+01:00\tSENSE1\t\ts2\tLAB\tanna\tactivity\tStop session\t0\r\n"), &ev)
	require.Equal(t, Accepted, status, reason)
	require.Equal(t, event.StopSession, ev.Command)
	require.Equal(t, "s2", ev.SessionID)
}

package auditlog

// A slow, obvious reading of the package documentation, written without
// regard for allocations, that Parse and ParseHeader must agree with on every
// testdata row and every fuzz input; and the fuzz targets that check it.

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// refHeader is a header as the reference reads it: the column names and,
// for each column the parser reads (by its lower-case name), its position.
type refHeader struct {
	names []string
	index map[string]int
}

var refColumns = []string{"timestamp", "hostname", "proxysessionid", "userdirectory", "userid", "command", "description", "result", "origin", "context",
	"message"}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func refLine(line []byte) string {
	return strings.TrimRight(strings.TrimPrefix(string(line), "\ufeff"), "\r\n")
}

func referenceHeader(line []byte) (*refHeader, bool) {
	s := refLine(line)
	if strings.TrimSpace(s) == "" || !utf8.ValidString(s) {
		return nil, false
	}
	h := &refHeader{names: strings.Split(s, "\t"), index: map[string]int{}}
	if len(h.names) >= 1<<15 {
		return nil, false
	}
	for i, name := range h.names {
		name = asciiLower(strings.TrimSpace(name))
		for _, known := range refColumns {
			if name != known {
				continue
			}
			if _, seen := h.index[name]; seen {
				return nil, false
			}
			h.index[name] = i
		}
	}
	for _, c := range []string{"timestamp", "hostname", "proxysessionid", "userdirectory", "userid"} {
		if _, ok := h.index[c]; !ok {
			return nil, false
		}
	}
	_, command := h.index["command"]
	_, description := h.index["description"]
	return h, command || description
}

var (
	refTimestamp = regexp.MustCompile(`^(\d{8}T\d{6})(\.\d{1,9})?(Z|[+-](\d\d):?(\d\d))$`)
	refInteger   = regexp.MustCompile(`^[+-]?[0-9]+$`)
	refCommands  = map[string]event.Command{
		"start session":    event.StartSession,
		"stop session":     event.StopSession,
		"open connection":  event.OpenConnection,
		"close connection": event.CloseConnection,
	}
)

// referenceTime reads a time stamp with time.Parse, after a regular
// expression has checked its shape and the offset's range.
func referenceTime(s string) (time.Time, bool) {
	m := refTimestamp.FindStringSubmatch(s)
	if len(m) == 0 || m[4] > "23" || m[5] > "59" {
		return time.Time{}, false
	}
	layout := "20060102T150405Z0700"
	if strings.Contains(m[3], ":") {
		layout = "20060102T150405Z07:00"
	}
	t, err := time.Parse(layout, s)
	return t, err == nil
}

func referenceParse(h *refHeader, line []byte) (event.Status, event.Event) {
	s := refLine(line)
	if strings.TrimSpace(s) == "" {
		return Malformed, event.Event{}
	}
	fields := strings.Split(s, "\t")
	if len(fields) != len(h.names) {
		return Malformed, event.Event{}
	}
	value := map[string]string{}
	for name, i := range h.index {
		v := fields[i]
		if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return Malformed, event.Event{}
		}
		value[name] = strings.TrimSpace(v)
	}
	t, ok := referenceTime(value["timestamp"])
	if !ok {
		return Malformed, event.Event{}
	}
	command, result := value["command"], value["result"]
	for _, part := range strings.Split(value["description"], ";") {
		key, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		key = asciiLower(strings.TrimSpace(key))
		if key == "resulttext" {
			break
		}
		if key == "command" && value["command"] == "" {
			command = strings.TrimSpace(v)
		}
		if key == "result" && value["result"] == "" {
			result = strings.TrimSpace(v)
		}
	}
	if result != "" {
		if !refInteger.MatchString(result) {
			return Malformed, event.Event{}
		}
		if strings.Trim(result, "+-0") != "" {
			return Ignored, event.Event{}
		}
	}
	cmd, ok := refCommands[asciiLower(command)]
	if !ok {
		return Ignored, event.Event{}
	}
	if value["hostname"] == "" || value["userdirectory"] == "" || value["userid"] == "" {
		return Malformed, event.Event{}
	}
	sessionID := value["proxysessionid"]
	if sessionID == "0" {
		sessionID = ""
	}
	return Accepted, event.Event{
		Server: value["hostname"], Command: cmd, Directory: value["userdirectory"], UserID: value["userid"],
		Origin: value["origin"], Context: value["context"], Message: value["message"],
		SessionID: sessionID, Time: t,
	}
}

// requireSameEvent compares events, times by instant and offset (time.Parse
// and Parse build different but equivalent Locations).
func requireSameEvent(t testing.TB, want, got event.Event, msgAndArgs ...any) {
	t.Helper()
	require.True(t, want.Time.Equal(got.Time), "time: want %v, got %v %v", want.Time, got.Time, msgAndArgs)
	_, wantOffset := want.Time.Zone()
	_, gotOffset := got.Time.Zone()
	require.Equal(t, wantOffset, gotOffset, "offset %v", msgAndArgs)
	want.Time, got.Time = time.Time{}, time.Time{}
	require.Equal(t, want, got, msgAndArgs...)
}

// checkAgainstReference parses a row with both parsers and requires the same
// status and, when accepted, the same event.
func checkAgainstReference(t testing.TB, h *Header, ref *refHeader, line []byte) (event.Status, string, event.Event) {
	t.Helper()
	original := string(line)
	var ev event.Event
	status, reason := h.Parse(line, &ev)
	require.Equal(t, original, string(line), "Parse changed its line")
	refStatus, refEvent := referenceParse(ref, line)
	require.Equal(t, refStatus, status, "%q: Parse says %q", line, reason)
	switch status {
	case Accepted:
		require.Empty(t, reason)
		requireSameEvent(t, refEvent, ev, "%q", line)
		require.NotEmpty(t, ev.Server)
		require.NotEmpty(t, ev.Directory)
		require.NotEmpty(t, ev.UserID)
		require.NotEqual(t, event.Unknown, ev.Command)
		require.NotEqual(t, "0", ev.SessionID)
	default:
		require.NotEmpty(t, reason, "%q", line)
		require.Equal(t, event.Event{}, ev, "%q: an event for a row that is not accepted", line)
	}
	return status, reason, ev
}

// FuzzParse checks ParseHeader and Parse against the reference on any header
// and row: ParseHeader succeeds exactly when the reference does, Parse never
// panics, returns the reference's status, and when it accepts a row, the
// reference's event.
func FuzzParse(f *testing.F) {
	for _, file := range testdataFiles(f) {
		var header []byte
		for i, line := range splitLines(readFile(f, file)) {
			if i == 0 || IsHeader(line) {
				header = line
				continue
			}
			f.Add(header, line)
		}
	}
	const h = "Timestamp\tHostname\tDescription\tProxySessionId\tUserDirectory\tUserId\tCommand\tResult"
	f.Add([]byte(h), []byte("20190228T101010.123+0100\tS\tCommand=Start session;Result=0\t0\tD\tu\t\t"))
	f.Add([]byte(h), []byte("20190228T101010.123-23:59\tS\t\tx\tD\tu\tStop session\t-0"))
	f.Add([]byte(h), []byte("20190228T101010Z\tS\t\tx\tD\t\u00a0u\u00a0\tOpen connection\t"))
	f.Add([]byte(h), []byte(h))
	f.Fuzz(func(t *testing.T, header, row []byte) {
		hdr, err := ParseHeader(header)
		ref, refOK := referenceHeader(header)
		require.Equal(t, refOK, err == nil, "%q: %v", header, err)
		if err != nil {
			require.ErrorIs(t, err, ErrNotAuditActivityLog)
			return
		}
		checkAgainstReference(t, hdr, ref, row)
		// The header row itself is never accepted as data.
		var ev event.Event
		status, _ := hdr.Parse(header, &ev)
		require.NotEqual(t, Accepted, status, "%q", header)

		// Random rows seldom have as many fields as the header has columns:
		// fit the header to the row (cut it, or pad it with unknown columns)
		// so that the fuzzer reaches past the field count.
		names := hdr.Columns()
		n := strings.Count(refLine(row), "\t") + 1
		if n == len(names) || n > 1000 {
			return
		}
		for len(names) < n {
			names = append(names, "Extra")
		}
		fitted := []byte(strings.Join(names[:n], "\t"))
		if hdr, err = ParseHeader(fitted); err != nil {
			return
		}
		ref, refOK = referenceHeader(fitted)
		require.True(t, refOK, "%q", fitted)
		checkAgainstReference(t, hdr, ref, row)
	})
}

// FuzzTimestamp checks the hand-written time stamp parser against
// time.Parse: whatever it accepts, time.Parse accepts as the same instant
// with the same offset, and it rejects nothing the reference accepts.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{
		"20190228T101010.123+0100", "20190228T101010.123+01:00", "20190228T101010Z", "20000229T235959.999999999-23:59",
		"20190229T101010.123+0100", "20190228T101010.1234567890+0100", "20190228T101010,5+0100", "20190228T101010.123+2400",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTimestamp(s)
		want, refOK := referenceTime(s)
		require.Equal(t, refOK, ok, "%q", s)
		if !ok {
			return
		}
		require.True(t, want.Equal(got), "%q: want %v, got %v", s, want, got)
		_, wantOffset := want.Zone()
		_, gotOffset := got.Zone()
		require.Equal(t, wantOffset, gotOffset, "%q", s)
		// And the plain layouts of time.Parse agree too.
		for _, layout := range []string{"20060102T150405Z0700", "20060102T150405Z07:00"} {
			if p, err := time.Parse(layout, s); err == nil {
				require.True(t, p.Equal(got), "%q with %s", s, layout)
			}
		}
	})
}

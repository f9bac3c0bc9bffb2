package replay

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The replay's own reading of the proxy audit activity log (DESIGN.md §1):
// a header row names the tab-separated columns, which are found by name in
// any ASCII case; a row's time stamp is 20190228T101010.123+0100 (or +01:00,
// or Z); Description reads Command=...;Result=...;ResultText=....

// LogEvent is an accepted row of a log file.
type LogEvent struct {
	Event
	Origin string    // e.g. AppAccess
	Time   time.Time // when the proxy logged it, in the row's own offset
}

// The columns the reader uses, as Qlik names them.
const (
	colTimestamp   = "Timestamp"
	colHostname    = "Hostname"
	colSessionID   = "ProxySessionId"
	colDirectory   = "UserDirectory"
	colUserID      = "UserId"
	colCommand     = "Command"
	colDescription = "Description"
	colResult      = "Result"
	colOrigin      = "Origin"
	colContext     = "Context"
	colMessage     = "Message"
)

var readColumns = []string{colTimestamp, colHostname, colSessionID, colDirectory, colUserID, colCommand,
	colDescription, colResult, colOrigin, colContext, colMessage}

// logHeader is one header row: where each column the reader uses is.
type logHeader struct {
	columns int
	at      map[string]int // by the name in readColumns
}

// parseLogHeader reads a header row (a byte order mark and the line end
// stripped). It needs Timestamp, Hostname, ProxySessionId, UserDirectory,
// UserId, and Command or Description; no column twice.
func parseLogHeader(line []byte) (*logHeader, error) {
	names := strings.Split(cutLineEnd(line), "\t")
	if len(names) == 1 && strings.TrimSpace(names[0]) == "" {
		return nil, errors.New("not an audit activity log: the header row is empty")
	}
	h := &logHeader{columns: len(names), at: make(map[string]int)}
	for i, name := range names {
		if !utf8.ValidString(name) {
			return nil, errors.New("not an audit activity log: the header row is not UTF-8")
		}
		for _, col := range readColumns {
			if !equalFoldASCII(strings.TrimSpace(name), col) {
				continue
			}
			if _, twice := h.at[col]; twice {
				return nil, fmt.Errorf("not an audit activity log: column %s appears twice", col)
			}
			h.at[col] = i
		}
	}
	var missing []string
	for _, col := range []string{colTimestamp, colHostname, colSessionID, colDirectory, colUserID} {
		if _, ok := h.at[col]; !ok {
			missing = append(missing, col)
		}
	}
	_, command := h.at[colCommand]
	_, description := h.at[colDescription]
	if !command && !description {
		missing = append(missing, "Command or Description")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("not an audit activity log: missing column(s) %s", strings.Join(missing, ", "))
	}
	return h, nil
}

// isLogHeader tells a header row from a data row: it names the columns
// Timestamp and Hostname, where a data row has a time and a host.
func isLogHeader(line []byte) bool {
	timestamp, hostname := false, false
	for _, field := range strings.Split(cutLineEnd(line), "\t") {
		field = strings.TrimSpace(field)
		timestamp = timestamp || equalFoldASCII(field, colTimestamp)
		hostname = hostname || equalFoldASCII(field, colHostname)
	}
	return timestamp && hostname
}

// cutLineEnd drops a byte order mark and the CRs and LFs that end a line.
func cutLineEnd(line []byte) string {
	return strings.TrimRight(strings.TrimPrefix(string(line), bom), "\r\n")
}

// readRow reads a data row. Malformed: a blank row, another number of
// fields than the header has columns, a field the reader uses that is not
// UTF-8 or holds a control character, a bad time stamp or Result, an empty
// host, directory or user. Ignored: a command that failed (Result not 0),
// none, or one not tracked. A ProxySessionId of 0 is Qlik's "no session".
func (h *logHeader) readRow(line []byte) (LogEvent, Status) {
	row := cutLineEnd(line)
	if strings.TrimSpace(row) == "" {
		return LogEvent{}, Malformed
	}
	fields := strings.Split(row, "\t")
	if len(fields) != h.columns {
		return LogEvent{}, Malformed
	}
	value := make(map[string]string, len(readColumns))
	for col, i := range h.at {
		if !utf8.ValidString(fields[i]) || controlIn(fields[i], "") {
			return LogEvent{}, Malformed
		}
		value[col] = strings.TrimSpace(fields[i])
	}
	at, ok := parseLogTime(value[colTimestamp])
	if !ok {
		return LogEvent{}, Malformed
	}
	command, result := value[colCommand], value[colResult]
	if command == "" || result == "" {
		fromCommand, fromResult := readDescription(value[colDescription])
		command = cmpOr(command, fromCommand)
		result = cmpOr(result, fromResult)
	}
	if result != "" {
		if !resultPattern.MatchString(result) {
			return LogEvent{}, Malformed
		}
		if strings.Trim(result, "+-0") != "" {
			return LogEvent{}, Ignored
		}
	}
	command, tracked := trackedCommand(command)
	if !tracked {
		return LogEvent{}, Ignored
	}
	if value[colHostname] == "" || value[colDirectory] == "" || value[colUserID] == "" {
		return LogEvent{}, Malformed
	}
	sessionID := value[colSessionID]
	if sessionID == "0" {
		sessionID = ""
	}
	return LogEvent{
		Event: Event{Server: value[colHostname], Command: command, Directory: value[colDirectory], UserID: value[colUserID],
			Context: value[colContext], Message: value[colMessage], SessionID: sessionID},
		Origin: value[colOrigin],
		Time:   at,
	}, Accepted
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// resultPattern is a return code: an optional sign and digits.
var resultPattern = regexp.MustCompile(`^[+-]?[0-9]+$`)

// readDescription returns the Command= and Result= of a Description,
// "Command=Stop session;Result=0;ResultText=Success": keys in any ASCII
// case, values trimmed; ResultText, which may hold ';' and '=', ends it.
func readDescription(description string) (command, result string) {
	for _, part := range strings.Split(description, ";") {
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch key = strings.TrimSpace(key); {
		case equalFoldASCII(key, "ResultText"):
			return command, result
		case equalFoldASCII(key, "Command"):
			command = strings.TrimSpace(value)
		case equalFoldASCII(key, "Result"):
			result = strings.TrimSpace(value)
		}
	}
	return command, result
}

// logTimePattern: date, 'T', time, a fraction of 1 to 9 digits or none, and
// Z, +hhmm or +hh:mm.
var logTimePattern = regexp.MustCompile(`^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d\d):?(\d\d))$`)

// parseLogTime reads a row's time stamp, in a zone of its own offset (UTC
// for 0), checking that the date exists and the clock and offset are in range.
func parseLogTime(s string) (time.Time, bool) {
	m := logTimePattern.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	n := make([]int, len(m))
	for i, part := range m[1:] {
		if v, err := strconv.Atoi(part); err == nil { // else an absent part, or Z or a sign: 0
			n[i+1] = v
		}
	}
	year, month, day, hour, minute, second := n[1], n[2], n[3], n[4], n[5], n[6]
	nanos := n[7]
	for i := len(m[7]); i > 0 && i < 9; i++ {
		nanos *= 10
	}
	offset := (n[10]*60 + n[11]) * 60
	if m[9] == "-" {
		offset = -offset
	}
	if hour > 23 || minute > 59 || second > 59 || n[10] > 23 || n[11] > 59 {
		return time.Time{}, false
	}
	zone := time.UTC
	if offset != 0 {
		zone = time.FixedZone("", offset)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, zone)
	if t.Year() != year || t.Month() != time.Month(month) || t.Day() != day {
		return time.Time{}, false // a date that does not exist, such as 20190230
	}
	return t, true
}

// Package auditlog parses the rows of the Qlik Sense proxy's audit activity
// log, C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\<HOST>_AuditActivity_Proxy.txt,
// into session events.
//
// # The format
//
// Qlik documents the file in "Audit activity log" (Qlik Sense help, section
// "Log file format", page Server-Logging-New-Log-File-Format-Fields-Audit-Activity-Log,
// e.g. https://help.qlik.com/sv-SE/sense/April2018/Subsystems/PlanningQlikSenseDeployments/Content/Sense_Deployment/Server-Logging-New-Log-File-Format-Fields-Audit-Activity-Log.htm):
//
//   - UTF-8 text, often opened by a byte order mark, one row per line, lines
//     ending in CR LF; fields separated by tabs.
//   - The first row names the columns: Sequence#, ProductVersion, Timestamp,
//     Hostname, Id, Description, ProxySessionId, ProxyPackageId,
//     RequestSequenceId, UserDirectory, UserId, ... Command, Origin, Context,
//     Message, ... The set and the order of the columns depend on the Sense
//     release and on the logging configuration (Appenders), so columns are
//     mapped by name, never by position, and the names are compared ignoring
//     ASCII case: Qlik spells the column Hostname in this log and HostName in
//     the audit security and service logs.
//   - Timestamp is "YYYYMMDDThhmmss.fffK": 20110805T145657.000+0200 in some
//     releases' documentation, 20110805T145657.000+02:00 in others; both are
//     read, and so is Z (UTC).
//   - Description is "Command=<CommandName>;Result=<ReturnCode
//     (Int)>;ResultText=<Description, Success, or Error message>", e.g.
//     Command=Stop session;Result=0;ResultText=Success.
//   - ProxySessionId is "the ID of the proxy session"; "0 = Internal system
//     command or a command that does not go through the QPS". Newer releases
//     log it as a salted hash (a note in the November 2023 audit security log
//     page), so it identifies a session within the logs but need not equal
//     the SessionId the proxy session API (QPS) returns.
//   - The file rotates (at a service restart, at a size limit, after some
//     hours): the old one moves to ArchivedLogs and a new one starts with a
//     new header row, so a header row may come where a data row is expected.
//
// # Reading a file
//
// Parse the first row with ParseHeader, then every further row with
// Header.Parse. A row Parse reports as Malformed with ReasonHeader is a new
// header (the file was rotated under the reader): parse it with ParseHeader
// and go on with the new Header. IsHeader tells a header row from a data row
// without a Header.
//
// # What a row becomes
//
// Header.Parse fills a event.Event from the columns Timestamp (Time, with
// the row's own offset), Hostname (Server), Command (or, when that column is
// absent or empty, the Command= part of Description), UserDirectory, UserId,
// ProxySessionId (SessionID), Origin, Context and Message. It returns:
//
//   - Accepted for Start session, Stop session, Open connection and Close
//     connection (spelt in any ASCII case) that succeeded;
//   - Ignored for any other command, a row without a command, and a command
//     whose result is not 0 (the Result column, else the Result= part of
//     Description; a row that gives no result at all counts as a success);
//   - Malformed for a row that is not a data row of the header's file: empty,
//     another number of fields than the header has columns, a header row,
//     a field the parser reads that is not UTF-8 or holds a control character,
//     a bad timestamp, a Result that is not an integer, or an empty host,
//     user directory or user id.
//
// Columns the parser does not read are not checked. A ProxySessionId of ""
// or "0" (Qlik's "no proxy session") becomes SessionID "": the state then
// knows the user's sessions on that server only by count, as with the UDP
// sources, which carry no session id.
//
// Parse does not allocate: the event's strings alias the row, and the time
// is built without time.Parse, in a time.Location cached per offset.
package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// What became of a row (see event.Status).
const (
	Accepted  = event.Accepted
	Ignored   = event.Ignored
	Malformed = event.Malformed
)

// Reasons for Ignored and Malformed rows. They are constants so that parsing
// never allocates.
const (
	ReasonNone           = ""
	ReasonEmpty          = "empty row (or only blanks)"
	ReasonHeader         = "a header row (the log file was rotated): read it with ParseHeader"
	ReasonTooFewFields   = "fewer tab-separated fields than the header has columns"
	ReasonTooManyFields  = "more tab-separated fields than the header has columns"
	ReasonNotUTF8        = "a field is not valid UTF-8"
	ReasonControl        = "a field holds a control character"
	ReasonBadTimestamp   = "Timestamp is not YYYYMMDDThhmmss.fff+hhmm (or +hh:mm, or Z)"
	ReasonBadResult      = "Result is not an integer"
	ReasonFailed         = "the command failed (Result is not 0)"
	ReasonNoCommand      = "no command (the Command column is empty and Description has no Command=)"
	ReasonUnknownCommand = "command is not Start session, Stop session, Open connection or Close connection"
	ReasonEmptyServer    = "empty Hostname"
	ReasonEmptyDirectory = "empty UserDirectory"
	ReasonEmptyUser      = "empty UserId"
)

// ErrNotAuditActivityLog is the error ParseHeader wraps when a row cannot be
// the header of a proxy audit activity log.
var ErrNotAuditActivityLog = errors.New("not the header of a Qlik Sense proxy audit activity log")

// expectedFile says what the file should be, for ParseHeader's errors.
const expectedFile = `the file should be a Qlik Sense proxy audit activity log, ` +
	`C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\<HOST>_AuditActivity_Proxy.txt ` +
	`(or one of its rotated copies in ArchivedLogs), whose first row holds the tab-separated column names`

// column is a column the parser reads.
type column uint8

const (
	colOther column = iota // a column the parser does not read
	colTimestamp
	colHostname
	colSessionID
	colDirectory
	colUserID
	colCommand
	colDescription
	colResult
	colOrigin
	colContext
	colMessage
	numColumns
)

// columnNames are the names Qlik gives the columns (compared ignoring ASCII case).
var columnNames = [numColumns]string{
	colOther:       "",
	colTimestamp:   "Timestamp",
	colHostname:    "Hostname",
	colSessionID:   "ProxySessionId",
	colDirectory:   "UserDirectory",
	colUserID:      "UserId",
	colCommand:     "Command",
	colDescription: "Description",
	colResult:      "Result",
	colOrigin:      "Origin",
	colContext:     "Context",
	colMessage:     "Message",
}

// required are the columns a header must have; it must also have Command or
// Description.
var required = [...]column{colTimestamp, colHostname, colSessionID, colDirectory, colUserID}

// Header maps the columns of one log file (one header row) to positions.
// It is not changed by Parse, so one Header may serve several goroutines.
type Header struct {
	names []string          // the column names as the file writes them
	cols  []column          // what each position holds
	pos   [numColumns]int16 // where each column is, -1 if absent
}

// ParseHeader reads a header row: tab-separated column names, with a
// leading UTF-8 byte order mark and the line end (CR LF or LF) stripped.
// Its error names the missing columns and says what the file should be.
// The Header does not alias line.
func ParseHeader(line []byte) (*Header, error) {
	s := trimLine(line)
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: the first row is empty; %s", ErrNotAuditActivityLog, expectedFile)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: the header row is not valid UTF-8; %s", ErrNotAuditActivityLog, expectedFile)
	}
	names := strings.Split(strings.Clone(s), "\t")
	if len(names) > 1<<15-1 {
		return nil, fmt.Errorf("%w: %d columns; %s", ErrNotAuditActivityLog, len(names), expectedFile)
	}
	h := &Header{names: names, cols: make([]column, len(names))}
	for c := range h.pos {
		h.pos[c] = -1
	}
	for i, name := range names {
		name = strings.TrimSpace(name)
		for c := colOther + 1; c < numColumns; c++ {
			if !event.EqualFoldASCII(name, columnNames[c]) {
				continue
			}
			if h.pos[c] >= 0 {
				return nil, fmt.Errorf("%w: column %s appears twice (columns %d and %d); %s",
					ErrNotAuditActivityLog, columnNames[c], h.pos[c]+1, i+1, expectedFile)
			}
			h.pos[c] = int16(i)
			h.cols[i] = c
			break
		}
	}
	var missing []string
	for _, c := range required {
		if h.pos[c] < 0 {
			missing = append(missing, columnNames[c])
		}
	}
	if h.pos[colCommand] < 0 && h.pos[colDescription] < 0 {
		missing = append(missing, "Command or Description")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing column(s) %s (the row has %s); %s",
			ErrNotAuditActivityLog, strings.Join(missing, ", "), quoteNames(names), expectedFile)
	}
	return h, nil
}

// quoteNames lists the first columns of a row for an error message.
func quoteNames(names []string) string {
	const most = 25
	var b strings.Builder
	for i, n := range names {
		if i == most {
			fmt.Fprintf(&b, " and %d more", len(names)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(n) > 40 {
			n = n[:40] + "..."
		}
		fmt.Fprintf(&b, "%q", n)
	}
	return b.String()
}

// Columns returns the column names as the header row writes them.
func (h *Header) Columns() []string {
	return append([]string(nil), h.names...)
}

// IsHeader reports whether line is a header row: among its tab-separated
// fields are the column names Timestamp and Hostname (ignoring ASCII case,
// a byte order mark and the line end). A data row holds a time stamp there,
// so it never qualifies.
func IsHeader(line []byte) bool {
	s := trimLine(line)
	timestamp, hostname := false, false
	for {
		field, rest, more := strings.Cut(s, "\t")
		field = strings.TrimSpace(field)
		timestamp = timestamp || event.EqualFoldASCII(field, "Timestamp")
		hostname = hostname || event.EqualFoldASCII(field, "Hostname")
		if !more {
			return timestamp && hostname
		}
		s = rest
	}
}

// Parse reads one data row into ev. It does not allocate: ev's strings
// alias line, so line must not change while ev is in use, and anything kept
// beyond that must be cloned. ev is set only when the row is Accepted;
// otherwise it is left zero.
func (h *Header) Parse(line []byte, ev *event.Event) (event.Status, string) {
	*ev = event.Event{}
	s := trimLine(line)
	if strings.TrimSpace(s) == "" {
		return Malformed, ReasonEmpty
	}

	// Split on tabs, keeping the fields the parser reads; f[colOther] takes
	// the others.
	var f [numColumns]string
	n := 0
	for {
		i := strings.IndexByte(s, '\t')
		field := s
		if i >= 0 {
			field = s[:i]
		}
		if n < len(h.cols) {
			f[h.cols[n]] = field
		}
		n++
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	if n != len(h.cols) {
		switch {
		case IsHeader(line):
			return Malformed, ReasonHeader
		case n < len(h.cols):
			return Malformed, ReasonTooFewFields
		default:
			return Malformed, ReasonTooManyFields
		}
	}

	for c := colOther + 1; c < numColumns; c++ {
		if why := checkField(f[c]); why != ReasonNone {
			return Malformed, why
		}
		f[c] = trimSpace(f[c])
	}

	t, ok := parseTimestamp(f[colTimestamp])
	if !ok {
		if IsHeader(line) {
			return Malformed, ReasonHeader
		}
		return Malformed, ReasonBadTimestamp
	}

	command, result := f[colCommand], f[colResult]
	if command == "" || result == "" {
		descCommand, descResult := parseDescription(f[colDescription])
		if command == "" {
			command = descCommand
		}
		if result == "" {
			result = descResult
		}
	}
	if result != "" {
		zero, ok := parseResult(result)
		if !ok {
			return Malformed, ReasonBadResult
		}
		if !zero {
			return Ignored, ReasonFailed
		}
	}
	if command == "" {
		return Ignored, ReasonNoCommand
	}
	cmd := event.ParseCommand(command)
	if cmd == event.Unknown {
		return Ignored, ReasonUnknownCommand
	}

	switch {
	case f[colHostname] == "":
		return Malformed, ReasonEmptyServer
	case f[colDirectory] == "":
		return Malformed, ReasonEmptyDirectory
	case f[colUserID] == "":
		return Malformed, ReasonEmptyUser
	}
	sessionID := f[colSessionID]
	if sessionID == "0" {
		sessionID = "" // Qlik: "0 = Internal system command or a command that does not go through the QPS"
	}
	*ev = event.Event{
		Server:    f[colHostname],
		Command:   cmd,
		Directory: f[colDirectory],
		UserID:    f[colUserID],
		Origin:    f[colOrigin],
		Context:   f[colContext],
		Message:   f[colMessage],
		SessionID: sessionID,
		Time:      t,
	}
	return Accepted, ReasonNone
}

// trimLine returns line without a leading UTF-8 byte order mark and without
// its line end (any trailing CR and LF), as a string that aliases line.
func trimLine(line []byte) string {
	if len(line) == 0 {
		return ""
	}
	s := unsafe.String(&line[0], len(line))
	s = strings.TrimPrefix(s, "\ufeff")
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// checkField returns ReasonNotUTF8 or ReasonControl if s is not valid UTF-8
// or holds a control character (C0, DEL or C1), else ReasonNone.
func checkField(s string) string {
	// Skip eight bytes at a time while they are printable ASCII (0x20 to
	// 0x7e); the loop below looks at the rest byte by byte.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
		del := w ^ (0x7f * ones)
		// A byte is flagged if it has its high bit set, is below 0x20 or is
		// 0x7f (the classic "has less than" and "has zero" bit tricks).
		if (w|(w-0x20*ones)|((del-ones)&^del))&highs != 0 {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return ReasonControl
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return ReasonNotUTF8
		}
		if r <= 0x9f { // C1 controls, U+0080 to U+009F
			return ReasonControl
		}
		i += size
	}
	return ReasonNone
}

// trimSpace is strings.TrimSpace with a shortcut for the usual field that
// starts and ends with a printable ASCII character.
func trimSpace(s string) string {
	if s == "" || s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf {
		return s
	}
	return strings.TrimSpace(s)
}

// parseDescription returns the Command= and Result= values of a Description
// such as "Command=Stop session;Result=0;ResultText=Success" (keys ignoring
// ASCII case, values trimmed). ResultText ends the parse: its text may hold
// ';' and '='. Parts without '=' are skipped.
func parseDescription(d string) (command, result string) {
	for d != "" {
		part, rest, _ := strings.Cut(d, ";")
		d = rest
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		switch {
		case event.EqualFoldASCII(key, "ResultText"):
			return command, result
		case event.EqualFoldASCII(key, "Command"):
			command = strings.TrimSpace(value)
		case event.EqualFoldASCII(key, "Result"):
			result = strings.TrimSpace(value)
		}
	}
	return command, result
}

// parseResult reads a return code: an optional sign and decimal digits. It
// reports whether the code is 0 and whether it is an integer at all.
func parseResult(s string) (zero, ok bool) {
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false, false
	}
	zero = true
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false, false
		}
		zero = zero && s[i] == '0'
	}
	return zero, true
}

// maxOffsetMinutes bounds the zone offsets a time stamp may give: ±23:59.
const maxOffsetMinutes = 23*60 + 59

// zones caches one fixed time.Location per offset in minutes, so that a row
// costs no allocation; offset 0 is time.UTC.
var zones [2*maxOffsetMinutes + 1]atomic.Pointer[time.Location]

func zone(offsetMinutes int) *time.Location {
	if offsetMinutes == 0 {
		return time.UTC
	}
	slot := &zones[offsetMinutes+maxOffsetMinutes]
	if loc := slot.Load(); loc != nil {
		return loc
	}
	slot.CompareAndSwap(nil, time.FixedZone("", offsetMinutes*60))
	return slot.Load()
}

// parseTimestamp reads "YYYYMMDDThhmmss", an optional fraction of 1 to 9
// digits after '.', and a zone: Z, ±hhmm or ±hh:mm (hh at most 23, mm at
// most 59). It checks the ranges that time.Parse checks (month, day in
// month, hour, minute, second), and returns the time in a fixed zone of
// that offset (time.UTC for offset 0).
func parseTimestamp(s string) (time.Time, bool) {
	const base = len("20060102T150405")
	if len(s) < base+1 || s[8] != 'T' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[4:6])
	day, ok3 := digits(s[6:8])
	hour, ok4 := digits(s[9:11])
	minute, ok5 := digits(s[11:13])
	second, ok6 := digits(s[13:15])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	s = s[base:]

	nsec := 0
	if s[0] == '.' {
		i := 1
		for i < len(s) && i <= 9 && isDigit(s[i]) {
			nsec = nsec*10 + int(s[i]-'0')
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		for k := i; k <= 9; k++ {
			nsec *= 10
		}
		s = s[i:]
	}

	var offset int
	switch {
	case s == "Z":
	case len(s) == 5 || len(s) == 6 && s[3] == ':':
		if s[0] != '+' && s[0] != '-' {
			return time.Time{}, false
		}
		hh, ok1 := digits(s[1:3])
		mm, ok2 := digits(s[len(s)-2:])
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = hh*60 + mm
		if s[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, nsec, zone(offset)), true
}

// digits reads a short run of decimal digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

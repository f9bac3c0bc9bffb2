package auditlog

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
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

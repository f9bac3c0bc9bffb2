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
//
//nolint:lll // the package documentation cites a help page whose URL is longer than a line
package auditlog

import (
	"strings"

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

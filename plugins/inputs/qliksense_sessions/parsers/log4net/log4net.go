// Package log4net parses the payloads that Qlik Sense's log4net UdpAppenders
// send: the Butler SOS format (/qseow-proxy-session/ and
// /qseow-proxy-connection/ markers), the Butler 5.x-6.x format
// (/proxy-session/ and /proxy-connection/ markers) and the legacy four-field
// format of Butler 1.x-4.x.
package log4net

import (
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/encoding/charmap"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// What became of a payload (see event.Status).
const (
	Accepted  = event.Accepted
	Ignored   = event.Ignored
	Malformed = event.Malformed
)

// Reasons for Ignored and Malformed payloads. They are constants so that
// parsing never allocates.
const (
	ReasonNone           = ""
	ReasonEmpty          = "empty payload"
	ReasonNotUTF8        = "payload is not valid UTF-8"
	ReasonUnknownMarker  = "unknown format marker (expected /qseow-proxy-session/, /qseow-proxy-connection/, /proxy-session/ or /proxy-connection/)"
	ReasonMissingFields  = "too few ';'-separated fields (the marker formats have 8)"
	ReasonLegacyFields   = "payload without a marker must have exactly 4 ';'-separated fields (legacy format)"
	ReasonUnknownCommand = "command is not Start session, Stop session, Open connection or Close connection"
	ReasonEmptyServer    = "empty host name"
	ReasonEmptyDirectory = "empty user directory"
	ReasonEmptyUser      = "empty user id"
	ReasonControl        = "a field holds a control character"
	ReasonBadServer      = "host name is not a host name (letters, digits, '-', '_' and '.', at most 253 bytes)"
)

// The markers of the current Butler SOS and the Butler 5.x-6.x formats.
var markers = [...]string{
	"/qseow-proxy-session/",
	"/qseow-proxy-connection/",
	"/proxy-session/",
	"/proxy-connection/",
}

const (
	markerFields = 8 // marker;host;command;directory;user;origin;context;message
	legacyFields = 4 // host;command;directory;user
)

// Parse reads one datagram into ev. It does not allocate: ev's strings alias
// payload, so payload must not change while ev is in use, and anything kept
// beyond that must be cloned.
func Parse(payload []byte, ev *event.Event) (event.Status, string) {
	*ev = event.Event{}
	if len(payload) == 0 {
		return Malformed, ReasonEmpty
	}
	s := trimBlanks(unsafe.String(&payload[0], len(payload))) //nolint:gosec // G103: zero-copy by contract (see above), pinned by TestParseAliasesThePayload
	if s == "" {
		return Malformed, ReasonEmpty
	}
	// Most payloads are printable ASCII: one pass shows they are valid
	// UTF-8 without control characters, and the checks below need not run.
	plain := printableASCII(s)
	if !plain && !utf8.ValidString(s) {
		return Malformed, ReasonNotUTF8
	}
	var fields [markerFields]string
	if s[0] == '/' {
		// Butler SOS lower-cases markers; compare them ignoring case.
		marker, _, _ := strings.Cut(s, ";")
		known := false
		for _, m := range markers {
			if marker == m || event.EqualFoldASCII(marker, m) {
				known = true
				break
			}
		}
		if !known {
			return Malformed, ReasonUnknownMarker
		}
		// The message (last field) may itself hold ';', so split at most 7 times.
		if splitN(s, fields[:]) < markerFields {
			return Malformed, ReasonMissingFields
		}
	} else if splitN(s, fields[:legacyFields+1]) != legacyFields {
		return Malformed, ReasonLegacyFields
	} else {
		// Shift the legacy fields behind an empty marker so both layouts line up.
		copy(fields[1:], fields[:legacyFields])
		fields[0] = ""
	}

	ev.Command = event.ParseCommand(trimBlanks(fields[2]))
	if ev.Command == event.Unknown {
		return Ignored, ReasonUnknownCommand
	}
	// Only blanks are trimmed: a control character at a field's edge is as
	// malformed as one inside it.
	ev.Server = trimBlanks(fields[1])
	ev.Directory = trimBlanks(fields[3])
	ev.UserID = trimBlanks(fields[4])
	ev.Origin = trimBlanks(fields[5])
	ev.Context = trimBlanks(fields[6])
	ev.Message = trimBlanks(fields[7])
	switch {
	case ev.Server == "":
		return Malformed, ReasonEmptyServer
	case ev.Directory == "" || ev.Directory == nullText:
		return Malformed, ReasonEmptyDirectory
	case ev.UserID == "" || ev.UserID == nullText:
		return Malformed, ReasonEmptyUser
	case !plain && (event.HasControl(ev.Server) || event.HasControl(ev.Directory) || event.HasControl(ev.UserID) ||
		event.HasControl(ev.Origin) || event.HasControl(ev.Context) || messageHasControl(ev.Message)):
		return Malformed, ReasonControl
	case !event.ValidHostName(ev.Server):
		return Malformed, ReasonBadServer
	}
	if ev.Command == event.OpenConnection || ev.Command == event.CloseConnection {
		ev.SessionID = SessionID(ev.Message)
	}
	return Accepted, ReasonNone
}

// SessionID returns the proxy session id that a connection message such as
// "connection Opened for session '<id>'" names, or "".
func SessionID(message string) string {
	const prefix = "for session '"
	i := strings.Index(message, prefix)
	if i < 0 {
		return ""
	}
	id, _, found := strings.Cut(message[i+len(prefix):], "'")
	if !found {
		return ""
	}
	return trimBlanks(id)
}

// nullText is what log4net writes for a property an event does not have.
const nullText = "(null)"

// printableASCII tells whether s holds only bytes from ' ' to '~', eight
// at a time.
func printableASCII(s string) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	b := unsafe.Slice(unsafe.StringData(s), len(s)) //nolint:gosec // G103: read only, to load eight bytes at a time without a copy
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		// A byte >= 0x80, a byte < 0x20, or DEL (0x7f, which +1 makes 0x80).
		if (w|(w-0x20*ones)|(w+ones))&highs != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// messageHasControl is event.HasControl for a log message, which may span
// lines: tabs, CR and LF pass.
func messageHasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x7f:
		case c == 0x7f || c == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0:
			return true
		case c < 0x20:
			if c != '\t' && c != '\r' && c != '\n' {
				return true
			}
		}
	}
	return false
}

// splitN splits s on ';' into at most len(into) fields, the last one keeping
// the rest, and returns how many fields it found (len(into) at most).
func splitN(s string, into []string) int {
	n := 0
	for n < len(into)-1 {
		field, rest, found := strings.Cut(s, ";")
		if !found {
			break
		}
		into[n] = field
		n++
		s = rest
	}
	into[n] = s
	return n + 1
}

// trimBlanks trims blanks from both ends: space, tab, CR, LF and the other
// Unicode spaces that are not control characters (such as U+00A0), so that
// a control character at a field's edge stays to be refused. Hand-written,
// since strings.Trim builds its character set anew on every call.
func trimBlanks(s string) string {
	if len(s) > 0 && notBlankASCII(s[0]) && notBlankASCII(s[len(s)-1]) {
		return s // the common case, kept short so that it inlines
	}
	return trimBlanksSlow(s)
}

func notBlankASCII(c byte) bool { return c > ' ' && c < utf8.RuneSelf }

func trimBlanksSlow(s string) string {
	start, end := 0, len(s)
	for start < end {
		r, size := rune(s[start]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[start:])
		}
		if !isBlank(r) {
			break
		}
		start += size
	}
	for end > start {
		r, size := rune(s[end-1]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeLastRuneInString(s[start:end])
		}
		if !isBlank(r) {
			break
		}
		end -= size
	}
	return s[start:end]
}

func isBlank(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}
	return unicode.IsSpace(r) && !unicode.IsControl(r)
}

// DecodeANSI decodes a payload that is not valid UTF-8 as Windows-1252, the
// ANSI code page of western Windows systems, which log4net's UdpAppender
// uses when its encoding parameter is not set (the Butler 1.x-4.x appender
// sets none). It appends the UTF-8 text to dst; false if a byte has no
// Windows-1252 character (the payload stays malformed).
func DecodeANSI(dst, payload []byte) ([]byte, bool) {
	for _, c := range payload {
		r := windows1252.DecodeByte(c)
		if r == utf8.RuneError {
			return dst, false
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, true
}

var windows1252 = charmap.Windows1252

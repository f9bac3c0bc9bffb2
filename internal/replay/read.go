package replay

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The replay's own reading of what the proxies send: the rules are those of
// DESIGN.md and of the plugin's documentation, written again here so that
// the model's expectation does not rest on the plugin's parsers.

// The commands the plugin tracks, as Qlik Sense spells them. The readers
// give these spellings whatever the case on the wire.
const (
	StartSession    = "Start session"
	StopSession     = "Stop session"
	OpenConnection  = "Open connection"
	CloseConnection = "Close connection"
)

var trackedCommands = []string{StartSession, StopSession, OpenConnection, CloseConnection}

// Status is what a reader made of a payload or a log row.
type Status uint8

const (
	// Accepted is one of the four tracked commands, well formed.
	Accepted Status = iota
	// Ignored is well formed, but no tracked command (or, in the log files,
	// one that failed).
	Ignored
	// Malformed cannot be read.
	Malformed
)

func (s Status) String() string {
	return [...]string{"accepted", "ignored", "malformed"}[s]
}

// payloadMarkers open the eight-field formats: Butler SOS's and Butler
// 5.x-6.x's, compared ignoring ASCII case (Butler SOS lower-cases them).
var payloadMarkers = []string{"/qseow-proxy-session/", "/qseow-proxy-connection/", "/proxy-session/", "/proxy-connection/"}

// notLogged is what log4net writes for a property the event lacks.
const notLogged = "(null)"

// ReadPayload reads one datagram as the plugin's intake must: a payload
// that is not UTF-8 is read as Windows-1252 (the legacy appender sets no
// encoding); then a marker format (eight fields, the message may hold ';')
// or the legacy format (exactly four fields); fields trimmed of blanks; an
// untracked command is Ignored; an empty or "(null)" directory or user, a
// control character in a field (the message may span lines) or a host name
// that is none is Malformed. Connections name their proxy session in the
// message. The Event does not alias payload.
func ReadPayload(payload []byte) (Event, Status) {
	text := string(payload)
	if !utf8.ValidString(text) {
		var ok bool
		if text, ok = fromWindows1252(payload); !ok {
			return Event{}, Malformed
		}
	}
	text = trimBlanks(text)
	if text == "" {
		return Event{}, Malformed
	}
	var fields []string
	if strings.HasPrefix(text, "/") {
		marker, _, _ := strings.Cut(text, ";")
		if !slices.ContainsFunc(payloadMarkers, func(m string) bool { return equalFoldASCII(marker, m) }) {
			return Event{}, Malformed
		}
		if fields = strings.SplitN(text, ";", 8); len(fields) < 8 {
			return Event{}, Malformed
		}
		fields = fields[1:]
	} else {
		if fields = strings.Split(text, ";"); len(fields) != 4 {
			return Event{}, Malformed
		}
		fields = append(fields, "", "", "") // no origin, context or message
	}
	for i := range fields {
		fields[i] = trimBlanks(fields[i])
	}
	server, command, directory, userID, origin, context, message := fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]
	command, tracked := trackedCommand(command)
	if !tracked {
		return Event{}, Ignored
	}
	switch {
	case server == "" || directory == "" || directory == notLogged || userID == "" || userID == notLogged:
		return Event{}, Malformed
	case controlIn(server+directory+userID+origin+context, "") || controlIn(message, "\t\r\n"):
		return Event{}, Malformed
	case !validHostName(server):
		return Event{}, Malformed
	}
	ev := Event{Server: server, Command: command, Directory: directory, UserID: userID, Context: context, Message: message}
	if command == OpenConnection || command == CloseConnection {
		ev.SessionID = sessionIDIn(message)
	}
	return ev, Accepted
}

// trackedCommand returns the spelling of a tracked command, any ASCII case.
func trackedCommand(s string) (string, bool) {
	for _, c := range trackedCommands {
		if equalFoldASCII(s, c) {
			return c, true
		}
	}
	return "", false
}

var sessionIDPattern = regexp.MustCompile(`for session '([^']*)'`)

// sessionIDIn returns the proxy session id of a connection message such as
// "connection Opened for session '<id>'; UserAgent: ...", or "".
func sessionIDIn(message string) string {
	if m := sessionIDPattern.FindStringSubmatch(message); m != nil {
		return trimBlanks(m[1])
	}
	return ""
}

// trimBlanks trims spaces, tabs, CRs and LFs, and the Unicode spaces that
// are no control characters (U+00A0, U+3000, ...): a control character at
// a field's edge stays, to be refused.
func trimBlanks(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		if r < utf8.RuneSelf {
			return r == ' ' || r == '\t' || r == '\r' || r == '\n'
		}
		return unicode.IsSpace(r) && !unicode.IsControl(r)
	})
}

// controlIn tells whether s holds a C0 or C1 control character or DEL
// other than those in allowed.
func controlIn(s, allowed string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return isControl(r) && !strings.ContainsRune(allowed, r) }) >= 0
}

func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }

// validHostName: letters, digits, '-', '_' (NetBIOS names have it) and
// '.', 1 to 253 bytes; a log file is named after it, so no path either.
var validHostName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,253}$`).MatchString

// appIDPattern is an app GUID behind /app/, not followed by more hex: the
// context /app/<GUID>?reloadUri=..., /sense/app/<GUID>/sheet/..., or
// /app/app/<GUID> behind a virtual proxy named app.
var appIDPattern = regexp.MustCompile(`/app/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^0-9a-fA-F]|$)`)

// appID returns the app GUID a connection's context names, or "".
func appID(context string) string {
	if m := appIDPattern.FindStringSubmatch(context); m != nil {
		return m[1]
	}
	return ""
}

// equalFoldASCII tells whether s is word, an ASCII word, in any ASCII
// case. strings.EqualFold folds Unicode too, but a rune it folds to an ASCII
// letter (K U+212A, ſ U+017F) takes more bytes than that letter: at the same
// length only ASCII case can differ.
func equalFoldASCII(s, word string) bool {
	return len(s) == len(word) && strings.EqualFold(s, word)
}

// windows1252High are the characters of bytes 0x80 to 0x9F in Windows-1252;
// 0 marks the five bytes it leaves undefined. From 0xA0 on the code page is
// Latin-1: the byte is the code point.
var windows1252High = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}

// fromWindows1252 decodes an ANSI payload; false if a byte is undefined.
func fromWindows1252(payload []byte) (string, bool) {
	var b strings.Builder
	for _, c := range payload {
		r := rune(c)
		if c >= 0x80 && c < 0xa0 {
			if r = windows1252High[c-0x80]; r == 0 {
				return "", false
			}
		}
		b.WriteRune(r)
	}
	return b.String(), true
}

// Package event holds the vocabulary shared by every source (UDP datagrams,
// log files, the proxy session API) and the state: what happened, to whom,
// on which proxy.
package event

import (
	"strings"
	"time"
)

// Command is what a Qlik Sense proxy reported.
type Command uint8

// The commands: Unknown, and the four the plugin tracks (commandNames has
// their spellings).
const (
	// Unknown is any command the plugin does not track (Login, Logout, ...).
	Unknown Command = iota
	StartSession
	StopSession
	OpenConnection
	CloseConnection
)

// commandNames are the spellings Qlik Sense writes in %property{Command}.
var commandNames = [...]string{
	Unknown:         "",
	StartSession:    "Start session",
	StopSession:     "Stop session",
	OpenConnection:  "Open connection",
	CloseConnection: "Close connection",
}

// eventNames are the values of the `event` tag.
var eventNames = [...]string{
	Unknown:         "unknown",
	StartSession:    "session_start",
	StopSession:     "session_stop",
	OpenConnection:  "connection_open",
	CloseConnection: "connection_close",
}

// String returns the command as Qlik Sense spells it.
func (c Command) String() string {
	if int(c) < len(commandNames) {
		return commandNames[c]
	}
	return ""
}

// EventName returns the value of the `event` tag for the command.
func (c Command) EventName() string {
	if int(c) < len(eventNames) {
		return eventNames[c]
	}
	return eventNames[Unknown]
}

// ParseCommand maps a Qlik Sense command to a Command, ignoring case and
// surrounding spaces. It does not allocate.
func ParseCommand(s string) Command {
	// The four commands differ in length: one comparison decides.
	var c Command
	switch len(s) {
	case len("Start session"):
		c = StartSession
	case len("Stop session"):
		c = StopSession
	case len("Open connection"):
		c = OpenConnection
	case len("Close connection"):
		c = CloseConnection
	default:
		return Unknown
	}
	if EqualFoldASCII(s, commandNames[c]) {
		return c
	}
	return Unknown
}

// EqualFoldASCII compares two strings ignoring the case of ASCII letters,
// without allocating.
func EqualFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Status says what a parser made of a line or payload.
type Status uint8

const (
	// Accepted is a session or connection event.
	Accepted Status = iota
	// Ignored is well formed, but nothing the plugin tracks (another
	// command, a failed request).
	Ignored
	// Malformed cannot be read as any known format.
	Malformed
)

// ValidHostName tells whether name can be a proxy's host name: letters,
// digits, '-', '_' (NetBIOS names allow it) and '.', at most 253 bytes.
func ValidHostName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Event is one thing a proxy reported about a user's session. Its strings may
// alias a receive buffer: whoever keeps one beyond the buffer's life clones it.
type Event struct {
	Server    string // the proxy's host name, as the proxy wrote it
	Command   Command
	Directory string // UserDirectory
	UserID    string
	Origin    string // e.g. AppAccess
	Context   string // e.g. /hub/ or /app/<GUID> (AppID extracts the GUID)
	Message   string
	// SessionID is the proxy session id (the log files' ProxySessionId), or
	// "" where the source does not give it.
	SessionID string
	// Time is when the proxy logged the event, where the source says (the
	// log files); zero otherwise, and the time it was received stands.
	Time time.Time
	// Duration is set by the state on a Stop session: how long the session
	// lasted, where its start was seen; zero otherwise.
	Duration time.Duration
}

// UserName returns the user as Qlik Sense writes it: DIRECTORY\userid.
func (e *Event) UserName() string {
	return e.Directory + `\` + e.UserID
}

// AppID returns the app GUID that a proxy context such as
// /app/3f1d...?reloadUri=... or /sense/app/3f1d.../sheet/... names, or "".
func AppID(context string) string {
	const prefix = "/app/"
	for {
		i := strings.Index(context, prefix)
		if i < 0 {
			return ""
		}
		rest := context[i+len(prefix):]
		if len(rest) >= guidLength && IsGUID(rest[:guidLength]) &&
			(len(rest) == guidLength || !IsHex(rest[guidLength])) {
			return rest[:guidLength]
		}
		// Search on from the prefix's closing '/': it may open the next
		// /app/, as in /app/app/<GUID> behind a virtual proxy named app.
		context = context[i+len(prefix)-1:]
	}
}

const guidLength = 36 // 8-4-4-4-12

// IsGUID tells whether s is a GUID as Qlik Sense writes app ids: 8-4-4-4-12
// hex digits.
func IsGUID(s string) bool {
	if len(s) != guidLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !IsHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// IsHex tells whether c is a hex digit.
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// HasControl tells whether s holds a C0 or C1 control character or DEL,
// which no Qlik Sense host, directory or user name carries: the one check
// of a name every source makes (datagrams, log rows, the state file, the
// proxy session API). s must be valid UTF-8, as a parser's checked field
// or a decoded JSON string is; a C1 character is then 0xc2 and a byte below
// 0xa0.
func HasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0 {
			return true
		}
	}
	return false
}

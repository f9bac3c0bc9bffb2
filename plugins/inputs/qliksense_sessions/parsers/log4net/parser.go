package log4net

import (
	"bytes"
	"unsafe"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Parser reads datagrams into event.Parsed, deciding everything about their
// bytes: the format, and for a payload that is not UTF-8 its Windows-1252
// reading and Butler's view of it. One Parser serves one reading goroutine.
type Parser struct {
	// Retain makes the events outlive the payload (they go out in an event
	// metric): the payload is copied once, which is one allocation where
	// cloning each field would take seven.
	Retain bool
	// ButlerFields fills Parsed.ButlerFields for payloads that are not
	// UTF-8 (butler_summaries).
	ButlerFields bool

	ansi []byte // the last ANSI payload, decoded
}

// Parse reads one payload into out (Status, Reason, Event, Owned, Raw,
// ANSI, ButlerFields); out.From is the caller's.
func (p *Parser) Parse(payload []byte, out *event.Parsed) {
	out.Raw, out.ANSI, out.Owned, out.ButlerFields = payload, false, p.Retain, [3][]byte{}
	out.Status, out.Reason = Parse(p.owned(payload), &out.Event)
	if out.Status != Malformed || out.Reason != ReasonNotUTF8 {
		return
	}
	// The legacy appender sends the Windows ANSI code page.
	decoded, ok := DecodeANSI(p.ansi[:0], payload)
	if !ok {
		return
	}
	p.ansi = decoded
	out.ANSI = true
	out.Status, out.Reason = Parse(p.owned(decoded), &out.Event)
	if p.ButlerFields && out.Status == Accepted {
		out.ButlerFields = butlerFields(payload)
	}
}

// owned returns data, or with Retain a copy of it that is never reused.
func (p *Parser) owned(data []byte) []byte {
	if !p.Retain {
		return data
	}
	owned := string(data)
	return unsafe.Slice(unsafe.StringData(owned), len(owned)) //nolint:gosec // G103: a fresh copy no one writes to, for Parse's zero-copy strings
}

// butlerFields are the server, directory and user id of an accepted payload
// as Butler 6.1 split it: trimmed of " \t\r\n", then split on ';'.
func butlerFields(payload []byte) [3][]byte {
	trimmed := bytes.Trim(payload, " \t\r\n")
	fields := bytes.SplitN(trimmed, []byte(";"), markerFields)
	at := [3]int{1, 3, 4} // marker formats: marker;host;command;directory;user;...
	if len(trimmed) > 0 && trimmed[0] != '/' {
		at = [3]int{0, 2, 3} // the legacy format, host;command;directory;user
	}
	if len(fields) <= at[2] {
		return [3][]byte{} // not reached: the parser accepted it
	}
	return [3][]byte{fields[at[0]], fields[at[1]], fields[at[2]]}
}

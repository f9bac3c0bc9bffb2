package event

import (
	"net/netip"
	"time"
)

// Parsed is one datagram or log row as its source hands it to the pipeline:
// what the parser made of it, and where it came from.
type Parsed struct {
	Status Status
	Reason string
	// Event is the event when Status is Accepted. Its strings alias the
	// source's buffer unless Owned: valid only during the call.
	Event Event
	Owned bool
	// Raw is the payload or row as received, for log excerpts; valid only
	// during the call.
	Raw []byte
	// ANSI: the payload was not UTF-8 and was read as Windows-1252.
	ANSI bool
	// Oversize: a row longer than its source's limit (Status Malformed),
	// which the source has logged.
	Oversize bool
	// ButlerFields are the bytes of the server, directory and user id of a
	// payload that is not UTF-8, as Butler 6.1 split it (it decoded them as
	// UTF-8, lossily); nil for UTF-8 payloads, whose fields Butler read as
	// Event has them. They alias Raw.
	ButlerFields [3][]byte
	From         Origin
}

// Origin is where a Parsed came from: a datagram (Addr, Received) or a row
// of a log file (Path, Rebuilding).
type Origin struct {
	Addr     netip.Addr
	Received time.Time
	// Path is the log file; empty for a datagram.
	Path string
	// Rebuilding: the row was in the files when reading began (history
	// read to rebuild the open sessions), not written since.
	Rebuilding bool
}

// IsRow tells whether it came from a log file.
func (o *Origin) IsRow() bool { return o.Path != "" }

// At is when the event counts: a row at its own time stamp, a datagram at
// its arrival.
func (p *Parsed) At() time.Time {
	if p.From.IsRow() {
		return p.Event.Time
	}
	return p.From.Received
}

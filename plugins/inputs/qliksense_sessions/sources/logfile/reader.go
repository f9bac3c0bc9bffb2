package logfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/auditlog"
)

// bufSize is the read buffer of a file; it grows for a longer row, up to
// Config.MaxLineBytes, and shrinks back after it.
const bufSize = 64 << 10

// excerptBytes is how much of an oversize row is kept for the Row and the
// log.
const excerptBytes = 256

// file is one open log file.
type file struct {
	path string
	f    *os.File

	// buf holds the bytes read beyond the last complete line: buf[0] is at
	// bufStart in the file, and bufStart+len(buf) == readPos.
	buf      []byte
	bufStart int64
	readPos  int64
	// offset is where the rows delivered end; guarded by Source.mu.
	offset int64
	// prefix is the file's first min(readPos, FingerprintBytes) bytes;
	// guarded by Source.mu.
	prefix []byte

	// scanned: buf[:scanned] holds the lines already looked at.
	scanned int
	// bytesRead counts the bytes read since the file was opened.
	bytesRead int64
	// ev is the event of the row last made; its strings alias buf.
	ev event.Event

	header   *auditlog.Header
	sawFirst bool // the first row (the header) was read
	bad      bool // not an audit activity log: not read further

	// skipUntil: rows that end at or before it were delivered before a
	// restart; only header rows among them are read.
	skipUntil int64
	// rebuildEnd: rows that end at or before it are Row.Rebuilding.
	rebuildEnd int64

	// discarding: inside a row longer than the limit, up to its line end.
	discarding bool
	excerpt    []byte
	longStart  int64 // where the oversize row starts
}

// newFile takes over a candidate's handle. Rows that end at or before
// skipUntil are not delivered again.
func (s *Source) newFile(c *candidate, skipUntil, rebuildEnd int64) *file {
	s.stats.filesRead.Add(1)
	// The prefix read at open covers min(size, FingerprintBytes) >= skipUntil
	// bytes, so that Positions is right before the first read.
	fl := &file{path: c.path, f: c.f, prefix: c.prefix, skipUntil: skipUntil, rebuildEnd: rebuildEnd}
	c.f = nil
	return fl
}

// position is what Positions reports for the file; false when nothing was
// read. Called under Source.mu.
func (fl *file) position(now time.Time) (Position, bool) {
	if fl == nil || len(fl.prefix) == 0 || fl.bad {
		return Position{}, false
	}
	// Rows skipped after a restart were delivered by the previous run.
	offset := max(fl.offset, fl.skipUntil)
	return Position{Path: fl.path, Fingerprint: fingerprint(fl.prefix), FingerprintBytes: int64(len(fl.prefix)), Offset: offset, Seen: now}, true
}

// reset forgets what was read, for reading the file again from its start
// (the handle is at 0). Called under Source.mu.
func (fl *file) reset() {
	fl.buf = fl.buf[:0]
	fl.scanned = 0
	fl.bufStart, fl.readPos, fl.offset = 0, 0, 0
	fl.prefix = fl.prefix[:0]
	fl.header, fl.sawFirst, fl.bad = nil, false, false
	fl.skipUntil, fl.rebuildEnd = 0, 0
	fl.discarding, fl.excerpt = false, nil
}

// read delivers the file's rows beyond those delivered, as far as the file
// holds complete rows now. If final (the file will not grow: rotated away, or
// archived), a last row without a line end is delivered too. It returns the
// bytes read.
func (s *Source) read(ctx context.Context, fl *file, final bool, handle func(Row)) int64 {
	before := fl.bytesRead
	for {
		r, ok := s.next(ctx, fl, final)
		if !ok {
			return fl.bytesRead - before
		}
		s.deliver(fl, r, handle)
	}
}

// next returns the file's next row to hand on, reading more of the file
// when the buffer holds no complete row; false when there is none for now:
// the file ends (a last row without its line end waits, unless final), is
// skipped, or ctx is done. The row's Line and Event alias the file's buffer
// and event: valid until the next call for this file, which the caller makes
// only after it has handed the row on.
func (s *Source) next(ctx context.Context, fl *file, final bool) (Row, bool) {
	if fl.buf == nil {
		s.setBuf(fl, make([]byte, 0, bufSize))
	}
	for {
		if r, ok := s.scan(fl); ok {
			return r, true
		}
		if fl.bad || ctx.Err() != nil || !s.fill(fl) {
			break
		}
	}
	if !final || fl.bad || ctx.Err() != nil {
		return Row{}, false
	}
	switch {
	case fl.discarding:
		fl.discarding = false
		return s.oversized(fl, fl.readPos)
	case len(fl.buf) > 0:
		// The writer closed the file without ending its last row.
		line := fl.buf
		fl.bufStart = fl.readPos
		fl.buf = fl.buf[:0]
		return s.row(fl, line, fl.readPos)
	}
	return Row{}, false
}

// fill reads more of the file into the buffer; false at its end (or on an
// error, counted and logged).
func (s *Source) fill(fl *file) bool {
	if len(fl.buf) == cap(fl.buf) {
		// A partial row fills the buffer and is within the limit (scan
		// switches to discarding otherwise): grow.
		grown := make([]byte, len(fl.buf), min(2*cap(fl.buf), s.cfg.MaxLineBytes+2))
		copy(grown, fl.buf)
		s.setBuf(fl, grown)
	}
	n, err := fl.f.Read(fl.buf[len(fl.buf):cap(fl.buf)])
	if n > 0 && len(fl.prefix) > 0 {
		// A file rewritten in place (truncated and written again beyond
		// where we were) shows in its first bytes. They are written before
		// the bytes just read, so checking after the read catches a rewrite
		// that the read saw part of.
		if first, err := readAt(fl.f, s.scratch[:len(fl.prefix)]); err == nil && !bytes.Equal(first, fl.prefix) {
			return s.rewind(fl, "was rewritten (its first bytes changed)")
		}
	}
	if n > 0 {
		// Keep the first FingerprintBytes bytes: prefix covers [0,
		// len(prefix)), the chunk [readPos, readPos+n).
		if have := int64(len(fl.prefix)); have < FingerprintBytes && have >= fl.readPos && have < fl.readPos+int64(n) {
			chunk := fl.buf[len(fl.buf) : len(fl.buf)+n]
			s.mu.Lock()
			fl.prefix = append(fl.prefix, chunk[have-fl.readPos:min(int64(n), FingerprintBytes-fl.readPos)]...)
			s.mu.Unlock()
		}
		fl.buf = fl.buf[:len(fl.buf)+n]
		fl.readPos += int64(n)
		fl.bytesRead += int64(n)
		s.stats.bytes.Add(uint64(n))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		s.stats.readErrors.Add(1)
		s.readErr.logf(s.log.Errorf, "Reading %s failed: %v", fl.path, err)
	}
	return n > 0
}

// scan returns the next row to hand on among the complete lines of the
// buffer from fl.scanned on. When none is left, it keeps the partial last
// line at the buffer's start.
func (s *Source) scan(fl *file) (Row, bool) {
	b := fl.buf
	for fl.scanned < len(b) && !fl.bad {
		i := fl.scanned
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		fl.scanned = i + j + 1
		end := fl.bufStart + int64(fl.scanned)
		line := b[i : i+j]
		var r Row
		var ok bool
		switch {
		case fl.discarding:
			fl.discarding = false
			r, ok = s.oversized(fl, end)
		case len(line) > s.cfg.MaxLineBytes+1 || len(line) == s.cfg.MaxLineBytes+1 && line[len(line)-1] != '\r':
			fl.excerpt = append(fl.excerpt[:0], line[:excerptBytes]...)
			fl.longStart = fl.bufStart + int64(i)
			r, ok = s.oversized(fl, end)
		default:
			r, ok = s.row(fl, line, end)
		}
		if ok {
			return r, true
		}
	}
	i := fl.scanned
	if fl.bad {
		i = len(b)
	}
	rest := len(b) - i
	switch {
	case fl.discarding:
		// Still inside an oversize row: drop what was read of it.
		rest = 0
	case rest > s.cfg.MaxLineBytes+1:
		// A row without its line end yet, already over the limit.
		fl.discarding = true
		fl.excerpt = append(fl.excerpt[:0], b[i:i+excerptBytes]...)
		fl.longStart = fl.bufStart + int64(i)
		rest = 0
	}
	copy(b, b[len(b)-rest:])
	fl.bufStart = fl.readPos - int64(rest)
	fl.buf = b[:rest]
	fl.scanned = 0
	if cap(fl.buf) > bufSize && rest <= bufSize/2 {
		s.setBuf(fl, append(make([]byte, 0, bufSize), fl.buf...))
	}
	return Row{}, false
}

// oversized makes the row of a row over the limit, which ended at end;
// false if it is not handed on.
func (s *Source) oversized(fl *file, end int64) (Row, bool) {
	if !fl.sawFirst {
		s.skipFile(fl, "its first row is longer than max_line_size, so it is not the header of an audit activity log")
		return Row{}, false
	}
	if end <= fl.skipUntil {
		s.setOffset(fl, end) // delivered before a restart
		return Row{}, false
	}
	s.stats.oversize.Add(1)
	s.oversize.logf(s.log.Warnf, "%s: skipped a row of %d bytes at offset %d: longer than max_line_size = %d "+
		"(counted in oversize; raise max_line_size if such rows are real): %q...",
		fl.path, end-fl.longStart, fl.longStart, s.cfg.MaxLineBytes, fl.excerpt)
	return Row{Path: fl.path, Line: fl.excerpt, Status: event.Malformed, Reason: ReasonOversize, Offset: end, Rebuilding: end <= fl.rebuildEnd}, true
}

func (s *Source) skipFile(fl *file, why string) {
	s.mu.Lock()
	fl.bad = true
	s.mu.Unlock()
	s.stats.filesSkipped.Add(1)
	s.log.Errorf("Skipping %s: %s", fl.path, why)
}

// row reads one row (without its LF) that ends at end, and makes the Row to
// hand on; false for rows that are not (headers, rows delivered before a
// restart).
func (s *Source) row(fl *file, line []byte, end int64) (Row, bool) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if !fl.sawFirst {
		fl.sawFirst = true
		h, err := auditlog.ParseHeader(line)
		if err != nil {
			s.skipFile(fl, err.Error())
			return Row{}, false
		}
		fl.header = h
		s.setOffset(fl, end)
		return Row{}, false
	}
	if end <= fl.skipUntil {
		// Delivered before the restart; only its header matters.
		if auditlog.IsHeader(line) {
			s.newHeader(fl, line)
		}
		s.setOffset(fl, end)
		return Row{}, false
	}
	var status event.Status
	var reason string
	if fl.header == nil {
		status, reason = event.Malformed, ReasonNoHeader
		if auditlog.IsHeader(line) {
			reason = auditlog.ReasonHeader
		}
	} else {
		status, reason = fl.header.Parse(line, &fl.ev)
	}
	if reason == auditlog.ReasonHeader {
		// The file was rotated under its writer, or reopened: new columns.
		s.newHeader(fl, line)
		s.setOffset(fl, end)
		return Row{}, false
	}
	r := Row{Path: fl.path, Line: line, Status: status, Reason: reason, Offset: end, Rebuilding: end <= fl.rebuildEnd}
	if status == event.Accepted {
		r.Event = &fl.ev
	}
	return r, true
}

func (s *Source) newHeader(fl *file, line []byte) {
	h, err := auditlog.ParseHeader(line)
	if err != nil {
		s.log.Warnf("%s: a header row in the middle of the file cannot be read, so the rows after it are malformed until the next header: %v", fl.path, err)
	}
	fl.header = h
}

// deliver hands a row to the handler and moves the file's offset after it,
// both under deliverMu, so that Checkpoint sees neither without the other.
func (s *Source) deliver(fl *file, r Row, handle func(Row)) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	s.stats.rows.Add(1)
	handle(r)
	s.setOffset(fl, r.Offset)
}

func (s *Source) setOffset(fl *file, end int64) {
	s.mu.Lock()
	fl.offset = end
	s.mu.Unlock()
}

// setBuf replaces the file's read buffer and counts the bytes held.
func (s *Source) setBuf(fl *file, buf []byte) {
	s.stats.bufBytes.Add(int64(cap(buf) - cap(fl.buf)))
	fl.buf = buf
}

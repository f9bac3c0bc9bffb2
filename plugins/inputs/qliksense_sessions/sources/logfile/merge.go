package logfile

import (
	"bytes"
	"container/heap"
	"context"
	"slices"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/auditlog"
)

// stream is one file's rows in the rebuild's merge.
type stream struct {
	fl    *file
	final bool // rotated or archived: it will not grow
	head  Row  // the next row to hand on
	// at is the head's time stamp; for a row without one (ignored or
	// malformed), that of the row before it in the file.
	at time.Time
	// order breaks ties: the rotated files oldest first, then the live ones
	// by path.
	order int
}

// before tells whether a's head goes before b's.
func (a *stream) before(b *stream) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	return a.order < b.order
}

// advance makes the stream's next row its head; false when the file holds
// no more.
func (s *Source) advance(ctx context.Context, st *stream) bool {
	r, ok := s.next(ctx, st.fl, st.final)
	if !ok {
		return false
	}
	st.head = r
	if r.Event != nil {
		st.at = r.Event.Time
	}
	return true
}

// merge hands on the rows of the files found at start in time-stamp order,
// across files (each file's rows in file order, also where its time stamps
// go back), so that rows of several servers are applied as they happened.
// Each file holds one row at a time, its head, in its read buffer. A file
// is read only once the merge has reached the time of its first row, so
// that only the files whose times overlap hold a buffer. The rotated files
// are closed, their positions kept, when they are read to their end (or
// when ctx is done); the live ones stay open for following.
func (s *Source) merge(ctx context.Context, streams []*stream, now time.Time, handle func(Row)) {
	for _, st := range streams {
		if st.fl.skipUntil == 0 {
			st.at = firstStamp(st.fl.prefix)
		}
	}
	waiting := slices.Clone(streams)
	slices.SortFunc(waiting, func(a, b *stream) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	var active streamHeap
	for ctx.Err() == nil {
		for len(waiting) > 0 && (len(active) == 0 || waiting[0].before(active[0])) {
			st := waiting[0]
			waiting = waiting[1:]
			if s.advance(ctx, st) {
				heap.Push(&active, st)
			} else {
				s.endStream(st, now)
			}
		}
		if len(active) == 0 {
			return
		}
		st := active[0]
		if len(active) == 1 && len(waiting) == 0 {
			// The last file: the rest of it in file order, without the heap.
			s.deliver(st.fl, st.head, handle)
			s.read(ctx, st.fl, st.final, handle)
			s.endStream(st, now)
			return
		}
		s.deliver(st.fl, st.head, handle)
		if s.advance(ctx, st) {
			heap.Fix(&active, 0)
		} else {
			heap.Pop(&active)
			s.endStream(st, now)
		}
	}
	// Stopped: the files keep the offsets of the rows handed on.
	for _, st := range append(active, waiting...) {
		s.endStream(st, now)
	}
}

func (s *Source) endStream(st *stream, now time.Time) {
	if st.final {
		s.finishRotated(st.fl, now)
	}
}

// firstStamp is the time stamp of the first accepted row within a file's
// first bytes, which the merge need not read the file before; the zero time
// when they hold none (then the file is read at once).
func firstStamp(prefix []byte) time.Time {
	var h *auditlog.Header
	var ev event.Event
	for line := range bytes.Lines(prefix) {
		if line[len(line)-1] != '\n' {
			break // cut off
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		if h == nil {
			var err error
			if h, err = auditlog.ParseHeader(line); err != nil {
				break
			}
			continue
		}
		status, reason := h.Parse(line, &ev)
		if status == event.Accepted {
			return ev.Time
		}
		if reason == auditlog.ReasonHeader {
			break // new columns: read the file at once rather than parse them here
		}
	}
	return time.Time{}
}

// streamHeap is the merge's files that have a head, the earliest first
// (container/heap's methods).
type streamHeap []*stream

// Len is the number of files.
func (h streamHeap) Len() int { return len(h) }

// Less orders the files by their heads.
func (h streamHeap) Less(i, j int) bool { return h[i].before(h[j]) }

// Swap swaps two files.
func (h streamHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

// Push adds a file.
func (h *streamHeap) Push(x any) { *h = append(*h, x.(*stream)) } //nolint:forcetypeassert // only streams go in

// Pop takes the last file out.
func (h *streamHeap) Pop() any {
	old := *h
	st := old[len(old)-1]
	*h = old[:len(old)-1]
	return st
}

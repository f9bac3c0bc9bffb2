package state

import (
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/session"
)

// The rules that keep a user's session count on a server exact.
//
// Every session sends one Start session, one Stop session and, in between,
// Open and Close connections that name it by its proxy session id. Over UDP
// the session events and the connection events travel through two log4net
// appenders, so they may arrive out of order:
//
//   - An Open connection may overtake its own Start session. The connection
//     proves a session, so it is counted at once (it may also be a session
//     that began before we listened); a Start session that arrives within
//     Config.ReorderWindow after it takes that session over instead of
//     counting a second one.
//   - A Stop session may overtake its own Start session (a very short
//     session), or end a session that a connection proved before its Start
//     came. Such a stop is remembered for the window, and the Start that
//     follows is cancelled by it.
//
// A Stop session over UDP does not say which session ended, and an Open
// connection with an id we do not know may belong to any session counted
// without an id. So an id may be pinned on the wrong session; the count
// stays exact as long as a session known by an id that has in fact ended is
// the first to go. A Stop therefore ends, in this order: a session known by
// an id with no open connection, one never named by a connection, one with
// open connections, and one awaiting its Start last. Had it picked wrongly,
// the live session is among those counted without an id, and its next
// connection names it.
//
// Sources that give every event's session id (the log files) are exact
// without any of this: a Start names a new session or one a connection
// proved, a Stop names the session it ends.

// pairDetail is what a user's sessions on a server need beyond a count.
type pairDetail struct {
	// known are the sessions whose proxy session id is known; the rest of
	// the pair's sessions are anonymous.
	known []knownSession
	// awaiting anonymous sessions were proved by connections without a
	// session id; the last at awaitingSince. Their Start has not come.
	awaiting      int
	awaitingSince time.Time
}

// knownSession is a session known by its proxy session id.
type knownSession struct {
	id string
	// started is when its Start session was seen; zero if it was not (a
	// connection, the session API or a restore made it known).
	started time.Time
	// awaiting is when a connection proved it before its Start came; zero
	// once its Start came or for sessions not proved that way.
	awaiting    time.Time
	connections int // open connections
	// unsure: a Stop session without an id may have ended this session
	// rather than the one it was taken for; an event naming its id makes it
	// sure again.
	unsure bool
}

// pairKey names a (server, user) pair by its case-folded keys.
type pairKey struct{ server, user string }

// earlyStops are Stop sessions that may have overtaken their Start.
type earlyStops struct {
	n    int
	last time.Time
}

// maxEarlyStops bounds the remembered early stops: only senders that lose
// or reorder the Start of very many sessions at once reach it.
const maxEarlyStops = 10_000

func (d *pairDetail) find(id string) int {
	if d == nil {
		return -1
	}
	for i := range d.known {
		if d.known[i].id == id {
			return i
		}
	}
	return -1
}

func (us *userOnServer) details() *pairDetail {
	if us.detail == nil {
		us.detail = &pairDetail{}
	}
	return us.detail
}

// within tells whether t is set and no older than the reorder window.
func (s *State) within(t, now time.Time) bool {
	return !t.IsZero() && now.Sub(t) <= s.cfg.ReorderWindow && s.cfg.ReorderWindow > 0
}

// liveAwaiting is the number of anonymous sessions still awaiting their Start.
func (s *State) liveAwaiting(d *pairDetail, now time.Time) int {
	if d == nil || !s.within(d.awaitingSince, now) {
		return 0
	}
	return d.awaiting
}

func (s *State) start(srv *server, us *userOnServer, ev *session.Event, now time.Time) (Outcome, *userOnServer) {
	if us != nil && ev.SessionID != "" {
		// A session a connection proved, named by its id.
		if i := us.detail.find(ev.SessionID); i >= 0 {
			k := &us.detail.known[i]
			if k.started.IsZero() {
				k.started = now
			}
			k.awaiting = time.Time{}
			us.lastSeen = now
			s.counters.StartsMatched++
			return Unchanged, us
		}
	}
	if ev.SessionID == "" && s.cancelEarlyStop(ev, now) {
		s.counters.StartsCancelled++
		return Unchanged, us
	}
	if us != nil && ev.SessionID == "" && s.takeOverAwaiting(us, now) {
		us.lastSeen = now
		if us.sessions == 1 {
			// The session a connection proved was the first: its start is
			// the user's start here, within the window.
			us.startSeen = true
		}
		s.counters.StartsMatched++
		return Unchanged, us
	}
	fresh := us == nil
	if us = s.addTo(srv, us, ev.Server, ev.Directory, ev.UserID, 1, now, now); us == nil {
		return Refused, nil
	}
	if fresh {
		us.startSeen = true
	}
	if ev.SessionID != "" {
		d := us.details()
		d.known = append(d.known, knownSession{id: strings.Clone(ev.SessionID), started: now})
	}
	return Changed, us
}

// takeOverAwaiting matches a Start session without a session id to a
// session awaiting its Start, the oldest first.
func (s *State) takeOverAwaiting(us *userOnServer, now time.Time) bool {
	d := us.detail
	if d == nil {
		return false
	}
	oldest := -1
	for i := range d.known {
		if s.within(d.known[i].awaiting, now) && (oldest < 0 || d.known[i].awaiting.Before(d.known[oldest].awaiting)) {
			oldest = i
		}
	}
	if n := s.liveAwaiting(d, now); n > 0 && (oldest < 0 || !d.known[oldest].awaiting.Before(d.awaitingSince)) {
		d.awaiting = n - 1
		return true
	}
	if oldest < 0 {
		return false
	}
	d.known[oldest].awaiting = time.Time{}
	d.known[oldest].started = now
	return true
}

func (s *State) stop(srv *server, us *userOnServer, ev *session.Event, now time.Time) Outcome {
	if us == nil {
		s.counters.StopsWithoutStart++
		if ev.SessionID == "" {
			s.noteEarlyStop(ev, now)
		}
		return OrphanStop
	}
	us.lastSeen = now
	last := us.sessions == 1
	d := us.detail
	victim, awaited := s.pickStopped(us, ev.SessionID, now)
	if victim >= 0 {
		k := d.known[victim]
		if ev.SessionID != "" && !k.started.IsZero() {
			ev.Duration = now.Sub(k.started)
		}
		d.known = append(d.known[:victim], d.known[victim+1:]...)
	} else if awaited {
		d.awaiting--
	}
	if ev.SessionID == "" && d != nil && us.sessions-s.liveAwaiting(d, now) > 1 {
		// The stop may have ended another session than the one picked.
		for i := range d.known {
			if !s.within(d.known[i].awaiting, now) {
				d.known[i].unsure = true
			}
		}
	}
	if awaited && ev.SessionID == "" {
		// Its Start may still be on its way: it must not count again.
		s.noteEarlyStop(ev, now)
	}
	if ev.SessionID == "" && last && us.startSeen {
		// Over UDP, from the first session's start to the last one's stop.
		ev.Duration = now.Sub(us.firstSeen)
	}
	s.remove(srv, us, 1)
	return Changed
}

// pickStopped chooses the session a Stop session ends: the index of a known
// session, or -1 for an anonymous one; awaited says the session was still
// awaiting its Start.
func (s *State) pickStopped(us *userOnServer, id string, now time.Time) (victim int, awaited bool) {
	d := us.detail
	if d == nil {
		return -1, false
	}
	if id != "" {
		if i := d.find(id); i >= 0 {
			return i, s.within(d.known[i].awaiting, now)
		}
	}
	idle, any := -1, -1
	for i := range d.known {
		if s.within(d.known[i].awaiting, now) {
			continue
		}
		if any < 0 {
			any = i
		}
		if d.known[i].connections == 0 {
			idle = i
			break
		}
	}
	awaiting := s.liveAwaiting(d, now)
	switch {
	case idle >= 0:
		return idle, false
	case us.sessions > len(d.known)+awaiting:
		return -1, false // never named by a connection
	case any >= 0:
		return any, false
	case awaiting > 0:
		return -1, true
	}
	return 0, true // only known sessions awaiting their Start are left
}

func (s *State) openConnection(srv *server, us *userOnServer, ev *session.Event, now time.Time) (Outcome, *userOnServer) {
	id := ev.SessionID
	if us == nil {
		// A connection proves a session: it started before we listened, or
		// its Start is late or lost.
		if us = s.addTo(srv, nil, ev.Server, ev.Directory, ev.UserID, 1, now, now); us == nil {
			return Refused, nil
		}
		s.counters.SessionsInferred++
		s.proveSession(us, id, now)
		return Changed, us
	}
	us.lastSeen = now
	if id == "" {
		return Unchanged, us
	}
	d := us.details()
	if i := d.find(id); i >= 0 {
		d.known[i].connections++
		d.known[i].unsure = false
		return Unchanged, us
	}
	if anonymous := us.sessions - len(d.known); anonymous > 0 {
		// One of the sessions we count without an id: now we know it.
		k := knownSession{id: strings.Clone(id), connections: 1}
		if anonymous == s.liveAwaiting(d, now) {
			k.awaiting = d.awaitingSince
			d.awaiting--
		}
		d.known = append(d.known, k)
		return Unchanged, us
	}
	for i := range d.known {
		if d.known[i].unsure {
			// The session a stop ended was this one's, and it lives on as
			// the one that connects now.
			d.known[i] = knownSession{id: strings.Clone(id), connections: 1}
			return Unchanged, us
		}
	}
	// A session we did not know of.
	if s.addTo(srv, us, ev.Server, ev.Directory, ev.UserID, 1, now, now) == nil {
		return Refused, us
	}
	s.counters.SessionsInferred++
	s.proveSession(us, id, now)
	return Changed, us
}

// proveSession records a session that a connection proved, awaiting its
// Start.
func (s *State) proveSession(us *userOnServer, id string, now time.Time) {
	d := us.details()
	if id == "" {
		if !s.within(d.awaitingSince, now) {
			d.awaiting = 0
		}
		d.awaiting++
		d.awaitingSince = now
		return
	}
	d.known = append(d.known, knownSession{id: strings.Clone(id), awaiting: now, connections: 1})
}

func (s *State) closeConnection(us *userOnServer, ev *session.Event, now time.Time) {
	if us == nil {
		return
	}
	us.lastSeen = now
	if ev.SessionID == "" {
		return
	}
	if i := us.detail.find(ev.SessionID); i >= 0 {
		k := &us.detail.known[i]
		k.unsure = false
		if k.connections > 0 {
			k.connections--
		}
	}
}

// earlyKey is the key of ev's pair in State.early, valid until keyBuf
// changes.
func (s *State) earlyKey(ev *session.Event) pairKey {
	s.keyBuf = foldCase(s.keyBuf[:0], ev.Server)
	n := len(s.keyBuf)
	s.keyBuf = foldCase(s.keyBuf, ev.Directory)
	s.keyBuf = append(s.keyBuf, '\\')
	s.keyBuf = foldCase(s.keyBuf, ev.UserID)
	return pairKey{unsafeString(s.keyBuf[:n]), unsafeString(s.keyBuf[n:])}
}

// noteEarlyStop remembers a Stop session whose Start may be still to come.
func (s *State) noteEarlyStop(ev *session.Event, now time.Time) {
	if s.cfg.ReorderWindow <= 0 {
		return
	}
	if len(s.early) >= maxEarlyStops {
		s.sweepEarlyStops(now)
		if len(s.early) >= maxEarlyStops {
			return
		}
	}
	key := s.earlyKey(ev)
	e := s.early[key]
	if e == nil {
		// The key aliases keyBuf: the map keeps copies.
		e = &earlyStops{}
		s.early[pairKey{strings.Clone(key.server), strings.Clone(key.user)}] = e
	}
	if !s.within(e.last, now) {
		e.n = 0
	}
	e.n++
	e.last = now
}

// cancelEarlyStop consumes a remembered early stop of ev's pair.
func (s *State) cancelEarlyStop(ev *session.Event, now time.Time) bool {
	if len(s.early) == 0 {
		return false
	}
	key := s.earlyKey(ev)
	e := s.early[key]
	if e == nil {
		return false
	}
	if !s.within(e.last, now) {
		delete(s.early, key)
		return false
	}
	if e.n--; e.n == 0 {
		delete(s.early, key)
	}
	return true
}

func (s *State) sweepEarlyStops(now time.Time) {
	for key, e := range s.early {
		if !s.within(e.last, now) {
			delete(s.early, key)
		}
	}
}

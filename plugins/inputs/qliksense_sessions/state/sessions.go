package state

import (
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
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
// an id with no open connection, one never named by a connection, the only
// one left, and one awaiting its Start last. Had it picked wrongly, the live
// session is among those counted without an id, or its record is left
// unsure, and its next connection names it.
//
// When every session a Stop may have ended has open connections, the state
// does not guess: the count goes down, and the records stay, one of them a
// phantom (pairDetail.phantoms). The ended session's connections close in
// turn, and the first unsure record left without connections goes. So the
// connections per app stay exact too, as long as the proxy logs the close of
// each connection, before or after the Stop.
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
	// phantoms is how many known records stand for sessions that ended:
	// which ones is not known (see above). len(known)-phantoms are real.
	phantoms int
	// anonymousApps are the connections without a session id, per app.
	anonymousApps []appConnections
	// index finds known sessions by id, for pairs with many (index.go).
	index *pairIndex
}

// anonymous is the number of sessions the pair counts without an id.
func (us *userOnServer) anonymous() int {
	if us.detail == nil {
		return us.sessions
	}
	return us.sessions - len(us.detail.known) + us.detail.phantoms
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
	connections int              // open connections
	apps        []appConnections // the open connections to apps, per app
	// unsure: a Stop session without an id may have ended this session
	// rather than the one it was taken for; an event naming its id makes it
	// sure again.
	unsure bool
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

func (s *State) start(srv *server, us *userOnServer, ev *event.Event, now time.Time) (Outcome, *userOnServer) {
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
	if us != nil && us.detail != nil && ev.SessionID == "" && s.takeOverAwaiting(us, now) {
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
	added, refused := s.addTo(srv, us, ev.Server, ev.Directory, ev.UserID, 1, now, now)
	if added == nil {
		return refused, us
	}
	us = added
	if fresh {
		us.startSeen = true
	}
	if ev.SessionID != "" {
		us.details().addKnown(knownSession{id: strings.Clone(ev.SessionID), started: now})
	} else if len(s.draining) == 0 { //nolint:revive // empty-block: the common case is named before the costly one
		// Nothing drains: the common case.
	} else if drained, ok := s.undrain(ev, now); ok {
		// A Stop that came just before took a session with open
		// connections, which have not closed since: it was this short
		// session's own Stop, overtaken, and that session lives on. It
		// comes back, unsure.
		d := us.details()
		if drained.id != "" && d.find(drained.id) < 0 {
			drained.unsure = true
			d.addKnown(drained)
		} else {
			d.anonymousApps = append(d.anonymousApps, drained.apps...)
		}
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

func (s *State) stop(srv *server, us *userOnServer, ev *event.Event, now time.Time) Outcome {
	if us == nil {
		s.counters.StopsWithoutStart++
		if ev.SessionID == "" {
			s.noteEarlyStop(ev, now)
		}
		return OrphanStop
	}
	us.lastSeen = now
	last := us.sessions == 1
	if d := us.detail; d != nil && !last {
		victim, awaited := s.pickStopped(us, ev.SessionID, now)
		switch {
		case victim >= 0:
			if k := d.known[victim]; ev.SessionID != "" && !k.started.IsZero() {
				ev.Duration = now.Sub(k.started)
			}
			if ev.SessionID == "" && d.known[victim].connections > 0 {
				s.drain(ev, now, us.user, d.known[victim])
				d.deleteKnown(victim)
			} else {
				s.dropKnown(us, victim)
			}
		case victim == phantom:
			d.phantoms++
		case awaited:
			d.awaiting--
		}
		if awaited && ev.SessionID == "" {
			// Its Start may still be on its way: it must not count again.
			s.noteEarlyStop(ev, now)
		}
		if ev.SessionID == "" {
			// The stop may have ended another session than the one picked.
			for i := range d.known {
				if !s.within(d.known[i].awaiting, now) {
					d.setUnsure(i, true)
				}
			}
		}
	} else if d != nil {
		if i := d.find(ev.SessionID); ev.SessionID != "" && i >= 0 && !d.known[i].started.IsZero() {
			ev.Duration = now.Sub(d.known[i].started)
		}
		if s.awaitingOnly(us, now) && ev.SessionID == "" {
			s.noteEarlyStop(ev, now)
		} else if ev.SessionID == "" && (len(d.known) > 0 && d.known[0].connections > 0 || len(d.anonymousApps) > 0) {
			var k knownSession
			if len(d.known) > 0 {
				k = d.known[0]
			}
			k.apps = append(k.apps, d.anonymousApps...)
			s.drain(ev, now, us.user, k)
			d.forgetKnown()
			d.anonymousApps = nil
		}
	}
	if ev.SessionID == "" && last && us.startSeen {
		// Over UDP, from the first session's start to the last one's stop.
		ev.Duration = now.Sub(us.firstSeen)
	}
	s.remove(srv, us, 1)
	return Changed
}

// phantom is pickStopped's answer when it cannot tell which of several
// sessions with open connections ended.
const phantom = -2

// pickStopped chooses the session a Stop session ends, of a pair with more
// than one: the index of a known session, -1 for an anonymous one, or
// phantom; awaited says the session was still awaiting its Start.
func (s *State) pickStopped(us *userOnServer, id string, now time.Time) (victim int, awaited bool) {
	d := us.detail
	if id != "" {
		if i := d.find(id); i >= 0 {
			return i, s.within(d.known[i].awaiting, now)
		}
	}
	idle, connected, only := -1, 0, -1
	for i := range d.known {
		if s.within(d.known[i].awaiting, now) {
			continue
		}
		if d.known[i].connections == 0 {
			idle = i
			break
		}
		connected++
		only = i
	}
	awaiting := s.liveAwaiting(d, now)
	switch {
	case idle >= 0:
		return idle, false
	case us.anonymous() > awaiting:
		return -1, false // never named by a connection
	case connected == 1 && d.phantoms == 0:
		return only, false
	case connected > 0:
		return phantom, false
	case awaiting > 0:
		return -1, true
	}
	return 0, true // only known sessions awaiting their Start are left
}

// awaitingOnly tells whether the pair's last session awaits its Start.
func (s *State) awaitingOnly(us *userOnServer, now time.Time) bool {
	d := us.detail
	return s.liveAwaiting(d, now) > 0 || len(d.known) == 1 && s.within(d.known[0].awaiting, now)
}

// dropKnown forgets known session i, closing its connections.
func (s *State) dropKnown(us *userOnServer, i int) {
	d := us.detail
	s.closeApps(us.user, d.known[i].apps)
	d.deleteKnown(i)
}

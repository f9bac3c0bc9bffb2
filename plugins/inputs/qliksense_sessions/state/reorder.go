package state

import (
	"slices"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// What the reorder window remembers beyond the counts (sessions.go says
// why): Stop sessions that may have overtaken their Start, and sessions that
// drain; Sweep forgets them once the window has passed.

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

// earlyKey is the key of ev's pair in State.early, valid until keyBuf
// changes.
func (s *State) earlyKey(ev *event.Event) pairKey {
	s.keyBuf = foldCase(s.keyBuf[:0], ev.Server)
	n := len(s.keyBuf)
	s.keyBuf = foldCase(s.keyBuf, ev.Directory)
	s.keyBuf = append(s.keyBuf, '\\')
	s.keyBuf = foldCase(s.keyBuf, ev.UserID)
	return pairKey{unsafeString(s.keyBuf[:n]), unsafeString(s.keyBuf[n:])}
}

// noteEarlyStop remembers a Stop session whose Start may be still to come.
func (s *State) noteEarlyStop(ev *event.Event, now time.Time) {
	if s.cfg.ReorderWindow <= 0 {
		return
	}
	if len(s.early) >= maxEarlyStops {
		s.sweepWhenFull(now)
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
func (s *State) cancelEarlyStop(ev *event.Event, now time.Time) bool {
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

// sweepWhenFull makes room in a full map of remembered events, at most once
// a second: sweeping all of them at every event would cost that much at
// every event of a flood, just when the maps fill.
func (s *State) sweepWhenFull(now time.Time) {
	if now.Sub(s.lastSweep) < time.Second && now.After(s.lastSweep) {
		return
	}
	s.lastSweep = now
	s.Sweep(now)
}

// A Stop session without an id that ends a session with open connections
// is either the session's own Stop, its connections' closes still to come,
// or the overtaken Stop of a very short session (see sessions.go). So the
// session drains: its connections stay counted, per app, until they close,
// and a Start that comes within the reorder window while some are open
// brings it back. What has not closed when the window ends is closed then
// (Sweep).

// drainingSessions are a pair's sessions that drain.
type drainingSessions struct {
	at       time.Time
	user     *user
	sessions []knownSession
}

// drain sets k, a session of u's, aside to drain.
func (s *State) drain(ev *event.Event, now time.Time, u *user, k knownSession) {
	key := s.earlyKey(ev)
	e := s.draining[key]
	if e == nil {
		if len(s.draining) >= maxEarlyStops {
			s.sweepWhenFull(now)
		}
		if s.cfg.ReorderWindow <= 0 || len(s.draining) >= maxEarlyStops {
			s.closeApps(u, k.apps)
			return
		}
		e = &drainingSessions{user: u}
		s.draining[pairKey{strings.Clone(key.server), strings.Clone(key.user)}] = e
	}
	e.at = now
	e.sessions = append(e.sessions, k)
}

// undrain takes back the newest of a pair's draining sessions that still
// has open connections.
func (s *State) undrain(ev *event.Event, now time.Time) (knownSession, bool) {
	if len(s.draining) == 0 {
		return knownSession{}, false
	}
	key := s.earlyKey(ev)
	e := s.draining[key]
	if e == nil {
		return knownSession{}, false
	}
	if !s.within(e.at, now) {
		s.endDraining(key, e)
		return knownSession{}, false
	}
	k := e.sessions[len(e.sessions)-1]
	if e.sessions = e.sessions[:len(e.sessions)-1]; len(e.sessions) == 0 {
		delete(s.draining, key)
	}
	return k, true
}

// closeDraining closes a connection of a draining session, if ev names one.
func (s *State) closeDraining(ev *event.Event) {
	if len(s.draining) == 0 || ev.SessionID == "" {
		return
	}
	key := s.earlyKey(ev)
	e := s.draining[key]
	if e == nil {
		return
	}
	for i := range e.sessions {
		k := &e.sessions[i]
		if k.id != ev.SessionID {
			continue
		}
		k.connections--
		s.closeApp(e.user, &k.apps, ev.Context)
		if k.connections <= 0 {
			s.closeApps(e.user, k.apps)
			e.sessions = slices.Delete(e.sessions, i, i+1)
			if len(e.sessions) == 0 {
				delete(s.draining, key)
			}
		}
		return
	}
}

// endDraining closes what still drains of a pair.
func (s *State) endDraining(key pairKey, e *drainingSessions) {
	for _, k := range e.sessions {
		s.closeApps(e.user, k.apps)
	}
	delete(s.draining, key)
}

// Sweep forgets what the reorder window has passed: remembered early stops,
// and the connections of draining sessions. It returns how many pairs it
// swept.
func (s *State) Sweep(now time.Time) int {
	n := 0
	for key, e := range s.draining {
		if !s.within(e.at, now) {
			s.endDraining(key, e)
			n++
		}
	}
	for key, e := range s.early {
		if !s.within(e.last, now) {
			delete(s.early, key)
			n++
		}
	}
	return n
}

package state

import (
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

func (s *State) openConnection(srv *server, us *userOnServer, ev *event.Event, now time.Time) (Outcome, *userOnServer) {
	id := ev.SessionID
	if us == nil {
		// A connection proves a session: it started before we listened, or
		// its Start is late or lost.
		added, refused := s.addTo(srv, nil, ev.Server, ev.Directory, ev.UserID, 1, now, now)
		if added == nil {
			return refused, nil
		}
		us = added
		s.counters.SessionsInferred++
		s.proveSession(us, id, now)
		s.openApp(us, id, ev.Context)
		return Changed, us
	}
	us.lastSeen = now
	if id == "" {
		s.openApp(us, id, ev.Context)
		return Unchanged, us
	}
	d := us.details()
	if i := d.find(id); i >= 0 {
		d.known[i].connections++
		d.setUnsure(i, false)
		s.openApp(us, id, ev.Context)
		if d.phantoms > 0 && d.unsureRecord() < 0 {
			// Every record proved alive after all: the session that the
			// stop ended was one counted without an id, or, if there is
			// none, one we did not know of and still count.
			none := us.anonymous() == 0
			d.phantoms--
			if none {
				added, refused := s.addTo(srv, us, ev.Server, ev.Directory, ev.UserID, 1, now, now)
				if added != nil {
					s.counters.SessionsInferred++
					return Changed, us
				}
				// No room for it (max_user_sessions): one session fewer
				// is known, so that no more are known than counted (there
				// are two at least: the count, one or more, and a phantom);
				// its next connection is refused in turn.
				victim := len(d.known) - 1
				if victim == i {
					victim--
				}
				s.dropKnown(us, victim)
				return refused, us
			}
		}
		return Unchanged, us
	}
	if anonymous := us.anonymous(); anonymous > 0 {
		// One of the sessions we count without an id: now we know it.
		k := knownSession{id: strings.Clone(id), connections: 1}
		if anonymous == s.liveAwaiting(d, now) {
			k.awaiting = d.awaitingSince
			d.awaiting--
		}
		d.addKnown(k)
		s.openApp(us, id, ev.Context)
		return Unchanged, us
	}
	if i := d.unsureRecord(); i >= 0 && d.known[i].connections == 0 {
		// The session a stop ended was this one's, and it lives on as the
		// one that connects now. (Were it alive, it is now counted without
		// an id, and its next connection names it.)
		s.dropKnown(us, i)
		d.addKnown(knownSession{id: strings.Clone(id), connections: 1})
		s.openApp(us, id, ev.Context)
		return Unchanged, us
	}
	// A session we did not know of.
	if added, refused := s.addTo(srv, us, ev.Server, ev.Directory, ev.UserID, 1, now, now); added == nil {
		return refused, us
	}
	s.counters.SessionsInferred++
	s.proveSession(us, id, now)
	s.openApp(us, id, ev.Context)
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
	d.addKnown(knownSession{id: strings.Clone(id), awaiting: now, connections: 1})
}

func (s *State) closeConnection(us *userOnServer, ev *event.Event, now time.Time) {
	if us == nil || us.detail.find(ev.SessionID) < 0 {
		s.closeDraining(ev)
	}
	if us == nil {
		return
	}
	us.lastSeen = now
	d := us.detail
	if ev.SessionID == "" {
		if d != nil {
			s.closeApp(us.user, &d.anonymousApps, ev.Context)
		}
		return
	}
	i := d.find(ev.SessionID)
	if i < 0 {
		return
	}
	k := &d.known[i]
	if k.connections > 0 {
		k.connections--
		s.closeApp(us.user, &k.apps, ev.Context)
	}
	if k.connections == 0 && k.unsure && d.phantoms > 0 {
		// The session a stop ended has closed its last connection.
		d.phantoms--
		s.dropKnown(us, i)
	}
}

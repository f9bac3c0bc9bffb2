package replay

import (
	"slices"
	"time"
)

// What the model remembers for the reorder window beyond the counts:
// Stop sessions that may have overtaken their Start, and the connections of
// sessions a Stop without an id ended, which may still close. Sweep forgets
// them once the window has passed, as the plugin does before each summary.

// earlyStops are a pair's Stop sessions whose Start may still come.
type earlyStops struct {
	n    int
	last time.Time
}

func (m *Model) noteEarlyStop(key pairKey, at time.Time) {
	if m.window <= 0 {
		return
	}
	e := m.early[key]
	if e == nil {
		e = &earlyStops{}
		m.early[key] = e
	}
	if !m.within(e.last, at) {
		e.n = 0
	}
	e.n++
	e.last = at
}

// takeEarlyStop tells whether a Start is cancelled by a Stop that came first.
func (m *Model) takeEarlyStop(key pairKey, at time.Time) bool {
	e := m.early[key]
	if e == nil {
		return false
	}
	if !m.within(e.last, at) {
		delete(m.early, key)
		return false
	}
	if e.n--; e.n == 0 {
		delete(m.early, key)
	}
	return true
}

// drainingSessions are a pair's ended sessions whose connections may
// still close; the last drained at at.
type drainingSessions struct {
	at       time.Time
	sessions []*session
}

// drain sets an ended session aside with its connections (without a
// window, they close at once).
func (m *Model) drain(key pairKey, s *session, at time.Time) {
	d := m.draining[key]
	if d == nil {
		if m.window <= 0 {
			m.disconnectAll(key.user, s.apps)
			return
		}
		d = &drainingSessions{}
		m.draining[key] = d
	}
	d.at = at
	d.sessions = append(d.sessions, s)
}

// undrain takes back the session drained last, within the window, or nil.
func (m *Model) undrain(key pairKey, at time.Time) *session {
	d := m.draining[key]
	if d == nil {
		return nil
	}
	if !m.within(d.at, at) {
		m.endDraining(key, d)
		return nil
	}
	s := d.sessions[len(d.sessions)-1]
	if d.sessions = d.sessions[:len(d.sessions)-1]; len(d.sessions) == 0 {
		delete(m.draining, key)
	}
	return s
}

// closeDraining closes a connection of a draining session that ev names;
// the session's last one closes what it still counts.
func (m *Model) closeDraining(key pairKey, ev *Event) {
	d := m.draining[key]
	if d == nil || ev.SessionID == "" {
		return
	}
	i := slices.IndexFunc(d.sessions, func(s *session) bool { return s.id == ev.SessionID })
	if i < 0 {
		return
	}
	s := d.sessions[i]
	s.connections--
	m.disconnect(key.user, s.apps, ev.Context)
	if s.connections > 0 {
		return
	}
	m.disconnectAll(key.user, s.apps)
	if d.sessions = slices.Delete(d.sessions, i, i+1); len(d.sessions) == 0 {
		delete(m.draining, key)
	}
}

func (m *Model) endDraining(key pairKey, d *drainingSessions) {
	for _, s := range d.sessions {
		m.disconnectAll(key.user, s.apps)
	}
	delete(m.draining, key)
}

// Sweep forgets what the reorder window has passed at at: early stops, and
// the connections still counted of the sessions that drain.
func (m *Model) Sweep(at time.Time) {
	for key, d := range m.draining {
		if !m.within(d.at, at) {
			m.endDraining(key, d)
		}
	}
	for key, e := range m.early {
		if !m.within(e.last, at) {
			delete(m.early, key)
		}
	}
}

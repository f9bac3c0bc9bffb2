package state

// Transitions is told of the state's changes as they happen, under the
// caller's lock, so that a feature that follows them (the usage periods)
// sees each change once, whatever made it: an event, the session API, a
// restore, an expiry.
type Transitions interface {
	// Opened is told that c.Sessions sessions of c.User on c.Server opened.
	Opened(c *Change)
	// Closed is told that c.Sessions sessions closed.
	Closed(c *Change)
	// AppJoined is told of a user's first connection to an app opening
	// (the state's keys, and the app's id as first seen).
	AppJoined(app, appID, user string)
	// AppLeft is told of a user's last connection to an app closing.
	AppLeft(app, appID, user string)
}

// Change is one opening or closing of sessions, valid during the call.
type Change struct {
	// Server and User are the state's keys (case-folded), ServerName the
	// server's name as first seen; they stay valid after the call.
	Server, ServerName, User string
	Sessions                 int
	// OnServer: the user came onto the server (their first session there
	// opened) or left it (their last closed); OnSite: the same over all
	// servers.
	OnServer, OnSite bool
	// ServerSlot and UserSlot are the observer's, to keep what it needs of
	// the server and the user while the state holds them (nil at first),
	// so that it need not look them up on every change.
	ServerSlot, UserSlot *any
}

// Observe makes t hear of every change from now on; nil: none.
func (s *State) Observe(t Transitions) { s.transitions = t }

// opened tells the observer of n sessions of us opened.
func (s *State) opened(us *userOnServer, n int, onServer, onSite bool) {
	s.change = Change{Server: us.server.key, ServerName: us.server.name, User: us.user.key, Sessions: n, OnServer: onServer, OnSite: onSite,
		ServerSlot: &us.server.observed, UserSlot: &us.user.observed}
	s.transitions.Opened(&s.change)
}

// closed tells the observer of n sessions of us closed.
func (s *State) closed(us *userOnServer, n int, onServer, onSite bool) {
	s.change = Change{Server: us.server.key, ServerName: us.server.name, User: us.user.key, Sessions: n, OnServer: onServer, OnSite: onSite,
		ServerSlot: &us.server.observed, UserSlot: &us.user.observed}
	s.transitions.Closed(&s.change)
}

package state

// Transitions is told of the state's changes as they happen, under the
// caller's lock, so that a feature that follows them (the usage periods)
// sees each change once, whatever made it: an event, the session API, a
// restore, an expiry. Its methods get the state's own keys (case-folded)
// and names (as first seen), which stay valid after the call.
type Transitions interface {
	// Opened: n sessions of user on server opened; newPair: the user had
	// none on that server before; newUser: none on any.
	Opened(server, serverName, user string, n int, newPair, newUser bool)
	// Closed: n sessions closed; pairGone: the user has none left on that
	// server; userGone: none left on any.
	Closed(server, serverName, user string, n int, pairGone, userGone bool)
	// AppJoined and AppLeft: the user's first connection to the app
	// opened, or its last closed.
	AppJoined(app, appID, user string)
	AppLeft(app, appID, user string)
}

// Observe makes t hear of every change from now on; nil: none.
func (s *State) Observe(t Transitions) { s.transitions = t }

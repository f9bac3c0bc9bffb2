package replay

import "strconv"

// Churn and logging out, for soak runs: over millions of events users must
// come and go, so that the plugin's memory can be seen to follow the active
// set rather than the traffic. The simulation alone draws its events from a
// fixed population whose sessions pile up (each user's count of sessions is
// a random walk); Churn caps how long a user stays, and brings names never
// seen before, and LogOutAll ends a run with most users gone.

// Churn logs one user, picked at random, out for good: each of their open
// connections closes, then each of their sessions stops, as the next events
// Next returns (after those already decided). A user never seen before
// takes their place in the population: the same directory, the id with a
// new generation (anna0007 → anna0007.2 → anna0007.3). It reports false,
// and changes nothing, when the user cannot leave now: a session of theirs
// that began before we listened was shown by a connection within the reorder
// window (see SimConfig.Preexisting), or fewer events remain than the
// logout takes.
func (s *Simulation) Churn() bool {
	i := s.rng.IntN(len(s.users))
	u := s.users[i]
	if !s.logOut(u) {
		return false
	}
	s.users[i] = &simUser{directory: u.directory, id: nextGeneration(u.id)}
	return true
}

// LogOutAll logs out every user with open sessions but a share keep of them
// (0 to 1), picked at random, as Churn does but keeping the users in the
// population. Users who cannot leave now stay too. It returns how many
// events Next has still to return before the model is settled: after them,
// Expected describes exactly the traffic sent.
func (s *Simulation) LogOutAll(keep float64) int {
	for _, u := range s.users {
		if len(u.sessions) == 0 || s.rng.Float64() < keep {
			continue
		}
		s.logOut(u)
	}
	return len(s.queue)
}

// logOut queues the events that end all of u's sessions and forgets them,
// or reports false.
func (s *Simulation) logOut(u *simUser) bool {
	needed := 0
	for _, ss := range u.sessions {
		if !ss.visible {
			continue // the plugin never knew it: nothing to send
		}
		if ss.preexisting && (s.cfg.WindowEvents == 0 || s.produced-ss.shownAt <= s.cfg.WindowEvents) {
			return false
		}
		needed += len(ss.connections) + 1
	}
	if s.cfg.Events-s.produced-len(s.queue) < needed {
		return false
	}
	for _, ss := range u.sessions {
		if !ss.visible {
			continue
		}
		ev := Event{Server: s.servers[ss.server], Directory: u.directory, UserID: u.id, SessionID: ss.id}
		for len(ss.connections) > 0 {
			s.queue = append(s.queue, s.closeConnection(ss, ev))
		}
		stop := ev
		stop.Command, stop.Context, stop.Message = "Stop session", "/hub/", "Stop session for user '"+u.directory+`\`+u.id+"'"
		s.queue = append(s.queue, stop)
	}
	u.sessions = nil
	return true
}

// nextGeneration names the user who takes id's place: id.2 for id, id.n+1
// for id.n. Ids of the population have no dot, so every name is new.
func nextGeneration(id string) string {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '.' {
			if n, err := strconv.Atoi(id[i+1:]); err == nil {
				return id[:i+1] + strconv.Itoa(n+1)
			}
			break
		}
	}
	return id + ".2"
}

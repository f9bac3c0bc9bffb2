// Package replay makes realistic Qlik Sense session traffic as log4net
// datagrams and proxy audit log files, sends or writes it, and knows which
// users must be active at the end.
//
// It is the tests' model of the plugin, independent of it: it imports no
// plugin package. The simulation keeps its own account of who has how many
// sessions where; for traffic it did not make (recorded payloads, log
// files), its own readers (read.go, logrow.go) and Model (model.go) say
// what the plugin must report. An end-to-end run that matches them means
// something; state/replay_crosscheck_test.go in the plugin shows that the
// plugin's parsers and state agree with them.
package replay

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Expected is the active set the plugin must show once it received the
// traffic; the JSON is what the replay tool prints.
type Expected struct {
	EventsSent     int              `json:"events_sent"`
	ActiveUsers    int              `json:"active_users"`
	ActiveSessions int              `json:"active_sessions"`
	Users          []string         `json:"users"`
	Servers        []ServerExpected `json:"servers"`
	Apps           []AppExpected    `json:"apps"`
}

// AppExpected is who has open connections to one app.
type AppExpected struct {
	App               string   `json:"app"`
	ActiveUsers       int      `json:"active_users"`
	ActiveConnections int      `json:"active_connections"`
	Users             []string `json:"users"`
}

// ServerExpected is the active set of one proxy server.
type ServerExpected struct {
	Server         string   `json:"server"`
	ActiveUsers    int      `json:"active_users"`
	ActiveSessions int      `json:"active_sessions"`
	Users          []string `json:"users"`
}

// SimConfig shapes the simulated site.
type SimConfig struct {
	Users       int
	Directories int
	Servers     int
	Events      int
	Seed        uint64
	Format      string   // sos, butler or legacy
	Exclude     []string // DIR\user service accounts: sent, but not expected
	// Race is the share of new sessions sent out of order, as log4net's two
	// appenders let happen: the session's first Open connection before its
	// Start session, or, for a very short session, its Stop before its
	// Start (0 to 1). The two go out one right after the other, well within
	// the plugin's reorder window.
	Race float64
	// Preexisting sessions began before the plugin listened: their Start is
	// never sent. They count from their first connection on; the user
	// starts no other session on that server while one is open (the plugin
	// could not tell the two apart), and none ends before a connection
	// showed it.
	Preexisting int
	// WindowEvents is how many events go out within the plugin's reorder
	// window at the sending rate. A session that began before we listened
	// ends no sooner after a connection showed it, since within the window
	// its Stop would cancel the user's next Start there (the plugin takes
	// it for the Stop of a session whose Start was late). 0: they never end.
	WindowEvents int
}

// Event is one simulated proxy log event.
type Event struct {
	Server    string
	Command   string // as Qlik Sense writes it; untracked ones (Login) in legacy noise
	Directory string
	UserID    string
	Context   string
	Message   string
	SessionID string // the proxy session id (every event carries it in the log files)
}

var (
	directoryNames = []string{"LAB", "CORP", "SALES", "FINANCE", "HR", "OPS", "RND", "EXT"}
	firstNames     = []string{"anna", "bob", "carl", "dora", "erik", "fatima", "gustav", "hana", "ivan", "jörg", "karin", "li", "maria", "nils", "olga", "per"}
	userAgents     = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	}
)

type simUser struct {
	directory, id string
	display       string        // spelling of the event that made the user active
	sessions      []*simSession // open ones, on every server
}

// simSession is one proxy session.
type simSession struct {
	id     string
	server int
	// visible: the plugin can know of it: its Start was sent, or a
	// connection of it (sessions that began before we listened are not).
	visible bool
	// preexisting: it began before the plugin listened; shownAt is the
	// event that made it visible.
	preexisting bool
	shownAt     int
	connections []string // the contexts of its open connections
}

// visibleSessions counts the user's sessions the plugin can know of.
func (u *simUser) visibleSessions() int {
	n := 0
	for _, s := range u.sessions {
		if s.visible {
			n++
		}
	}
	return n
}

// Simulation produces events one by one and keeps the model they imply.
type Simulation struct {
	cfg      SimConfig
	rng      *rand.Rand
	users    []*simUser
	service  [][2]string // excluded service accounts: directory, id
	servers  []string
	apps     []string
	produced int
	queue    []Event // events decided together, still to go out
	room     int     // how many events may still go out
}

// NewSimulation checks the config and sets up the population.
func NewSimulation(cfg SimConfig) (*Simulation, error) {
	switch {
	case cfg.Users <= 0 || cfg.Servers <= 0 || cfg.Events < 0:
		return nil, fmt.Errorf("users (%d) and servers (%d) must be positive and events (%d) not negative", cfg.Users, cfg.Servers, cfg.Events)
	case cfg.Directories <= 0 || cfg.Directories > len(directoryNames):
		return nil, fmt.Errorf("directories must be 1 to %d, not %d", len(directoryNames), cfg.Directories)
	case cfg.Race < 0 || cfg.Race > 1:
		return nil, fmt.Errorf("race must be 0 to 1, not %g", cfg.Race)
	case cfg.Preexisting < 0:
		return nil, fmt.Errorf("preexisting must not be negative, not %d", cfg.Preexisting)
	case cfg.WindowEvents < 0:
		return nil, fmt.Errorf("window events must not be negative, not %d", cfg.WindowEvents)
	}
	if _, err := encoderFor(cfg.Format); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: a simulation: the same seed makes the same traffic
	s := &Simulation{cfg: cfg, rng: rng}
	for i := 0; i < cfg.Servers; i++ {
		s.servers = append(s.servers, fmt.Sprintf("SENSE%d", i+1))
	}
	for i := 0; i < 20; i++ {
		s.apps = append(s.apps, s.uuid())
	}
	for i := 0; i < cfg.Users; i++ {
		s.users = append(s.users, &simUser{
			directory: directoryNames[i%cfg.Directories],
			id:        fmt.Sprintf("%s%04d", firstNames[i%len(firstNames)], i),
		})
	}
	for i := 0; i < cfg.Preexisting; i++ {
		u := s.users[s.rng.IntN(len(s.users))]
		server := s.rng.IntN(len(s.servers))
		if u.blocked(server) {
			continue
		}
		u.sessions = append(u.sessions, &simSession{id: s.uuid(), server: server, preexisting: true})
	}
	for _, name := range cfg.Exclude {
		dir, id, ok := strings.Cut(strings.TrimSpace(name), `\`)
		if !ok || dir == "" || id == "" {
			return nil, fmt.Errorf("exclude: %q is not DIRECTORY\\userid", name)
		}
		s.service = append(s.service, [2]string{dir, id})
	}
	return s, nil
}

// blocked tells whether u may not start a session on server: a session that
// began before we listened is open there.
func (u *simUser) blocked(server int) bool {
	for _, ss := range u.sessions {
		if ss.server == server && ss.preexisting {
			return true
		}
	}
	return false
}

// Next returns the next event, or false after cfg.Events events.
func (s *Simulation) Next() (Event, bool) {
	if s.produced >= s.cfg.Events {
		return Event{}, false
	}
	s.produced++
	if len(s.queue) == 0 {
		// Events decided together all go out: the model already has them.
		s.room = s.cfg.Events - s.produced + 1
		s.queue = s.decide(s.queue)
	}
	ev := s.queue[0]
	s.queue = s.queue[1:]
	return ev, true
}

// Settled tells whether the events Next returned so far are all the model
// has taken in, so that Expected describes exactly the traffic sent. Some
// events are decided together and go out one after the other (a race pair,
// a session's Stop with the closes of its connections); between them the
// model is ahead of the traffic. A sender that stops at checkpoints to
// compare the plugin with Expected stops where Settled holds.
func (s *Simulation) Settled() bool { return len(s.queue) == 0 }

// decide appends the next event or events that go out together.
func (s *Simulation) decide(out []Event) []Event {
	r := s.rng.Float64()
	switch {
	case len(s.service) > 0 && r < 0.05:
		return append(out, s.serviceEvent())
	case s.cfg.Format == "legacy" && r > 0.90:
		u := s.users[s.rng.IntN(len(s.users))]
		noise := []string{"Login", "Logout", "Ticket", ""}[s.rng.IntN(4)]
		return append(out, Event{Server: s.servers[s.rng.IntN(len(s.servers))], Command: noise, Directory: u.directory, UserID: u.id})
	}
	return s.userEvents(out, s.users[s.rng.IntN(len(s.users))])
}

// userEvents picks an action for u: start 25%, stop 25%, open a connection
// 30%, close one 20%, falling back to what is possible.
func (s *Simulation) userEvents(out []Event, u *simUser) []Event {
	action := s.rng.IntN(100)
	var visible, connected []*simSession
	all := make([]*simSession, 0, len(u.sessions))
	for _, ss := range u.sessions {
		all = append(all, ss)
		if ss.visible && (!ss.preexisting || s.cfg.WindowEvents > 0 && s.produced-ss.shownAt > s.cfg.WindowEvents) {
			visible = append(visible, ss)
		}
		if len(ss.connections) > 0 {
			connected = append(connected, ss)
		}
	}
	if action >= 80 && len(connected) == 0 {
		action = 50 // no connection to close: open one
	}
	if action >= 50 && len(all) == 0 || action >= 25 && action < 50 && len(visible) == 0 {
		action = 0 // nothing open: start a session
	}
	directory := u.directory
	if s.rng.IntN(10) == 0 {
		directory = strings.ToLower(directory) // Windows does not care, nor may we
	}
	ev := Event{Directory: directory, UserID: u.id}
	switch {
	case action < 25:
		server := s.rng.IntN(len(s.servers))
		if u.blocked(server) {
			return s.userEvents(out, s.users[s.rng.IntN(len(s.users))])
		}
		ss := &simSession{id: s.uuid(), server: server, visible: true}
		ev.Server, ev.SessionID = s.servers[server], ss.id
		start := ev
		start.Command, start.Context, start.Message = "Start session", "/hub/", "Start session for user '"+directory+`\`+u.id+"'"
		race := s.rng.Float64() < s.cfg.Race && s.room >= 2
		if race && s.rng.IntN(2) == 0 {
			// A very short session whose Stop overtook its Start. The Stop
			// may end another session of the user's in the plugin's eyes,
			// and the Start count it anew: the user may seem to leave and
			// come back, so the name keeps its spelling.
			if u.visibleSessions() > 0 {
				start.Directory, _, _ = strings.Cut(u.display, `\`)
				start.Message = "Start session for user '" + u.display + "'"
			}
			stop := start
			stop.Command, stop.Message = "Stop session", "Stop session for user '"+start.Directory+`\`+u.id+"'"
			return append(out, stop, start)
		}
		u.becomesVisible(ev)
		u.sessions = append(u.sessions, ss)
		if race {
			// Its first connection overtook its Start.
			return append(out, s.openConnection(ss, ev), start)
		}
		return append(out, start)
	case action < 50:
		ss := visible[s.rng.IntN(len(visible))]
		if len(ss.connections) >= s.room {
			// No room left for its connections to close: keep it open.
			return s.userEvents(out, s.users[s.rng.IntN(len(s.users))])
		}
		ev.Server, ev.SessionID = s.servers[ss.server], ss.id
		u.sessions = slices.DeleteFunc(u.sessions, func(other *simSession) bool { return other == ss })
		stop := ev
		stop.Command, stop.Context, stop.Message = "Stop session", "/hub/", "Stop session for user '"+directory+`\`+u.id+"'"
		// The session's open connections close as it ends: mostly before
		// its Stop (a logout, tabs closed before a timeout), sometimes
		// after.
		after := s.rng.IntN(10) < 3
		if after {
			out = append(out, stop)
		}
		for len(ss.connections) > 0 {
			out = append(out, s.closeConnection(ss, ev))
		}
		if !after {
			out = append(out, stop)
		}
		return out
	case action < 80:
		ss := all[s.rng.IntN(len(all))]
		ev.Server, ev.SessionID = s.servers[ss.server], ss.id
		if !ss.visible {
			u.becomesVisible(ev)
			ss.visible, ss.shownAt = true, s.produced
		}
		return append(out, s.openConnection(ss, ev))
	default:
		ss := connected[s.rng.IntN(len(connected))]
		ev.Server, ev.SessionID = s.servers[ss.server], ss.id
		return append(out, s.closeConnection(ss, ev))
	}
}

// becomesVisible notes the spelling that makes u active, if u was not.
func (u *simUser) becomesVisible(ev Event) {
	if u.visibleSessions() == 0 {
		u.display = ev.Directory + `\` + ev.UserID
	}
}

func (s *Simulation) openConnection(ss *simSession, ev Event) Event {
	context := s.context()
	ss.connections = append(ss.connections, context)
	ev.Command, ev.Context, ev.Message = "Open connection", context, s.connectionMessage("Opened", ss.id)
	return ev
}

func (s *Simulation) closeConnection(ss *simSession, ev Event) Event {
	i := s.rng.IntN(len(ss.connections))
	context := ss.connections[i]
	ss.connections = slices.Delete(ss.connections, i, i+1)
	ev.Command, ev.Context, ev.Message = "Close connection", context, s.connectionMessage("Closed", ss.id)
	return ev
}

// serviceEvent is traffic of an excluded account: it must change nothing.
func (s *Simulation) serviceEvent() Event {
	account := s.service[s.rng.IntN(len(s.service))]
	command := []string{"Start session", "Stop session"}[s.rng.IntN(2)]
	return Event{Server: s.servers[s.rng.IntN(len(s.servers))], Command: command, Directory: account[0], UserID: account[1],
		Context: "/hub/", Message: command + " for user '" + account[0] + `\` + account[1] + "'", SessionID: s.uuid()}
}

func (s *Simulation) context() string {
	if s.rng.IntN(10) < 7 {
		return "/app/" + s.apps[s.rng.IntN(len(s.apps))] + "?reloadUri=https://sense/hub"
	}
	return "/hub/"
}

func (s *Simulation) connectionMessage(verb, sessionID string) string {
	return "connection " + verb + " for session '" + sessionID + "'; UserAgent: '" + userAgents[s.rng.IntN(len(userAgents))] + "'"
}

func (s *Simulation) uuid() string { return randomUUID(s.rng) }

// randomUUID draws a version 4 UUID from rng: the simulation's and the log
// writer's ids, reproducible by their seeds.
func randomUUID(rng *rand.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>48&0x3fff|0x8000, b&0xffffffffffff)
}

// Expected is the active set after the events produced so far.
func (s *Simulation) Expected() Expected {
	exp := Expected{EventsSent: s.produced, Users: make([]string, 0), Servers: make([]ServerExpected, 0), Apps: make([]AppExpected, 0)}
	apps := make(map[string]*AppExpected)
	perServer := make([]ServerExpected, len(s.servers))
	for i, name := range s.servers {
		perServer[i] = ServerExpected{Server: name, Users: make([]string, 0)}
	}
	for _, u := range s.users {
		if u.visibleSessions() == 0 {
			continue
		}
		exp.ActiveUsers++
		exp.Users = append(exp.Users, u.display)
		onServer := make([]int, len(s.servers))
		inApp := make(map[string]bool)
		for _, ss := range u.sessions {
			if !ss.visible {
				continue
			}
			onServer[ss.server]++
			for _, context := range ss.connections {
				if s.cfg.Format == "legacy" {
					break // its payloads carry no context
				}
				id := appID(context)
				if id == "" {
					continue
				}
				a := apps[id]
				if a == nil {
					a = &AppExpected{App: id, Users: make([]string, 0)}
					apps[id] = a
				}
				a.ActiveConnections++
				if !inApp[id] {
					inApp[id] = true
					a.ActiveUsers++
					a.Users = append(a.Users, u.display)
				}
			}
		}
		for i, n := range onServer {
			if n > 0 {
				exp.ActiveSessions += n
				perServer[i].ActiveSessions += n
				perServer[i].ActiveUsers++
				perServer[i].Users = append(perServer[i].Users, u.display)
			}
		}
	}
	sortFolded(exp.Users)
	for _, srv := range perServer {
		if srv.ActiveSessions > 0 {
			sortFolded(srv.Users)
			exp.Servers = append(exp.Servers, srv)
		}
	}
	slices.SortFunc(exp.Servers, func(a, b ServerExpected) int {
		return strings.Compare(strings.ToLower(a.Server), strings.ToLower(b.Server))
	})
	for _, a := range apps {
		sortFolded(a.Users)
		exp.Apps = append(exp.Apps, *a)
	}
	slices.SortFunc(exp.Apps, func(a, b AppExpected) int { return strings.Compare(a.App, b.App) })
	return exp
}

// sortFolded sorts names as the plugin lists them: by their lower case.
func sortFolded(names []string) {
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
}

// Package replay makes realistic Qlik Sense session traffic as log4net
// datagrams, sends it, and knows which users must be active at the end.
//
// The simulation keeps its own model of who has how many sessions where:
// an oracle independent of the plugin's state package, so that an
// end-to-end run that matches it means something.
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
}

// Event is one simulated proxy log event.
type Event struct {
	Server    string
	Command   string // as Qlik Sense writes it; untracked ones (Login) in legacy noise
	Directory string
	UserID    string
	Context   string
	Message   string
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
	display       string // spelling of the start that made the user active
	sessions      []int  // per server
	connections   []int  // per server
}

func (u *simUser) total() int {
	n := 0
	for _, s := range u.sessions {
		n += s
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
}

// NewSimulation checks the config and sets up the population.
func NewSimulation(cfg SimConfig) (*Simulation, error) {
	switch {
	case cfg.Users <= 0 || cfg.Servers <= 0 || cfg.Events < 0:
		return nil, fmt.Errorf("users (%d) and servers (%d) must be positive and events (%d) not negative", cfg.Users, cfg.Servers, cfg.Events)
	case cfg.Directories <= 0 || cfg.Directories > len(directoryNames):
		return nil, fmt.Errorf("directories must be 1 to %d, not %d", len(directoryNames), cfg.Directories)
	}
	if _, err := encoderFor(cfg.Format); err != nil {
		return nil, err
	}
	s := &Simulation{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	for i := 0; i < cfg.Servers; i++ {
		s.servers = append(s.servers, fmt.Sprintf("SENSE%d", i+1))
	}
	for i := 0; i < 20; i++ {
		s.apps = append(s.apps, s.uuid())
	}
	for i := 0; i < cfg.Users; i++ {
		s.users = append(s.users, &simUser{
			directory:   directoryNames[i%cfg.Directories],
			id:          fmt.Sprintf("%s%04d", firstNames[i%len(firstNames)], i),
			sessions:    make([]int, cfg.Servers),
			connections: make([]int, cfg.Servers),
		})
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

// Next returns the next event, or false after cfg.Events events.
func (s *Simulation) Next() (Event, bool) {
	if s.produced >= s.cfg.Events {
		return Event{}, false
	}
	s.produced++
	r := s.rng.Float64()
	switch {
	case len(s.service) > 0 && r < 0.05:
		return s.serviceEvent(), true
	case s.cfg.Format == "legacy" && r > 0.90:
		u := s.users[s.rng.IntN(len(s.users))]
		noise := []string{"Login", "Logout", "Ticket", ""}[s.rng.IntN(4)]
		return Event{Server: s.servers[s.rng.IntN(len(s.servers))], Command: noise, Directory: u.directory, UserID: u.id}, true
	}
	return s.userEvent(s.users[s.rng.IntN(len(s.users))]), true
}

// userEvent picks an action for u: start 25%, stop 25%, open a connection
// 30%, close one 20%, falling back to what is possible.
func (s *Simulation) userEvent(u *simUser) Event {
	action := s.rng.IntN(100)
	withSession := s.serversWhere(u.sessions)
	withConnection := s.serversWhere(u.connections)
	if action >= 80 && len(withConnection) == 0 {
		action = 50 // no connection to close: open one
	}
	if action >= 25 && len(withSession) == 0 {
		action = 0 // nothing open: start a session
	}
	directory := u.directory
	if s.rng.IntN(10) == 0 {
		directory = strings.ToLower(directory) // Windows does not care, nor may we
	}
	name := directory + `\` + u.id
	switch {
	case action < 25:
		server := s.rng.IntN(len(s.servers))
		if u.total() == 0 {
			u.display = name
		}
		u.sessions[server]++
		return Event{Server: s.servers[server], Command: "Start session", Directory: directory, UserID: u.id,
			Context: "/hub/", Message: "Start session for user '" + name + "'"}
	case action < 50:
		server := withSession[s.rng.IntN(len(withSession))]
		u.sessions[server]--
		if u.sessions[server] == 0 {
			u.connections[server] = 0 // its tabs went with it
		}
		return Event{Server: s.servers[server], Command: "Stop session", Directory: directory, UserID: u.id,
			Context: "/hub/", Message: "Stop session for user '" + name + "'"}
	case action < 80:
		server := withSession[s.rng.IntN(len(withSession))]
		u.connections[server]++
		return Event{Server: s.servers[server], Command: "Open connection", Directory: directory, UserID: u.id,
			Context: s.context(), Message: s.connectionMessage("Opened")}
	default:
		server := withConnection[s.rng.IntN(len(withConnection))]
		u.connections[server]--
		return Event{Server: s.servers[server], Command: "Close connection", Directory: directory, UserID: u.id,
			Context: s.context(), Message: s.connectionMessage("Closed")}
	}
}

// serviceEvent is traffic of an excluded account: it must change nothing.
func (s *Simulation) serviceEvent() Event {
	account := s.service[s.rng.IntN(len(s.service))]
	command := []string{"Start session", "Stop session"}[s.rng.IntN(2)]
	return Event{Server: s.servers[s.rng.IntN(len(s.servers))], Command: command, Directory: account[0], UserID: account[1],
		Context: "/hub/", Message: command + " for user '" + account[0] + `\` + account[1] + "'"}
}

func (s *Simulation) serversWhere(counts []int) []int {
	var out []int
	for i, n := range counts {
		if n > 0 {
			out = append(out, i)
		}
	}
	return out
}

func (s *Simulation) context() string {
	if s.rng.IntN(10) < 7 {
		return "/app/" + s.apps[s.rng.IntN(len(s.apps))] + "?reloadUri=https://sense/hub"
	}
	return "/hub/"
}

func (s *Simulation) connectionMessage(verb string) string {
	return "connection " + verb + " for session '" + s.uuid() + "'; UserAgent: '" + userAgents[s.rng.IntN(len(userAgents))] + "'"
}

func (s *Simulation) uuid() string {
	a, b := s.rng.Uint64(), s.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>48&0x3fff|0x8000, b&0xffffffffffff)
}

// Expected is the active set after the events produced so far.
func (s *Simulation) Expected() Expected {
	exp := Expected{EventsSent: s.produced, Users: []string{}, Servers: []ServerExpected{}}
	perServer := make([]ServerExpected, len(s.servers))
	for i, name := range s.servers {
		perServer[i] = ServerExpected{Server: name, Users: []string{}}
	}
	for _, u := range s.users {
		if u.total() == 0 {
			continue
		}
		exp.ActiveUsers++
		exp.Users = append(exp.Users, u.display)
		for i, n := range u.sessions {
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
	return exp
}

// sortFolded sorts names as the plugin lists them: by their lower case.
func sortFolded(names []string) {
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
}

package pipeline

import "strings"

// claimServer makes the files the source of a server's sessions the first
// time they name it: what UDP said of it goes (the files say it all again,
// with session ids), and its UDP events are dropped from now on. Called
// under mu.
func (p *Pipeline) claimServer(name string) {
	key := strings.ToLower(name)
	if _, claimed := p.fileServers[key]; claimed {
		return
	}
	p.fileServers[key] = strings.Clone(name)
	if dropped := p.state.DropServer(name); dropped > 0 {
		p.cfg.Log.Infof("Server %s is read from its log files now: the %d sessions its UDP events had opened are replaced by the files'", name, dropped)
	}
}

// fromFiles tells whether a server's events come from the log files.
// Called under mu.
func (p *Pipeline) fromFiles(server string) bool {
	if len(p.fileServers) == 0 {
		return false
	}
	for key := range p.fileServers {
		if len(key) == len(server) && strings.EqualFold(key, server) {
			return true
		}
	}
	return false
}

// fileServerNames lists the servers read from the files, for the state
// file. Called under mu.
func (p *Pipeline) fileServerNames() []string {
	names := make([]string, 0, len(p.fileServers))
	for _, name := range p.fileServers {
		names = append(names, name)
	}
	return names
}

package pipeline

import (
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// BeginReconcile notes that a server's session API is being asked: events
// that arrive meanwhile win over its answer.
func (p *Pipeline) BeginReconcile(server string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.BeginReconcile(server)
}

// CancelReconcile ends a BeginReconcile whose answer did not come.
func (p *Pipeline) CancelReconcile(server string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.CancelReconcile(server)
}

// Reconcile makes a server's sessions the answers of all its virtual
// proxies (by prefix) and keeps each answer for its virtual proxy's
// summary. refused are the answers' sessions that their client already
// refused by max_users.
func (p *Pipeline) Reconcile(server string, answers map[string][]state.APISession, refused int, now time.Time) (added, removed int) {
	p.apiRefusedMaxUsers.Add(uint64(refused))
	var all []state.APISession
	for _, vp := range p.cfg.VirtualProxies {
		if vp.Server == server {
			all = append(all, answers[vp.Prefix]...)
		}
	}
	p.mu.Lock()
	if p.periods != nil && !p.periodClockHeld.Load() {
		p.periods.Advance(now) // the sessions it adds or removes count now
	}
	added, removed = p.state.Reconcile(server, all, now)
	for _, vp := range p.cfg.VirtualProxies {
		if vp.Server != server {
			continue
		}
		if answer, ok := answers[vp.Prefix]; ok {
			p.answers[vp] = answer
		} else {
			delete(p.answers, vp)
		}
	}
	p.mu.Unlock()
	return added, removed
}

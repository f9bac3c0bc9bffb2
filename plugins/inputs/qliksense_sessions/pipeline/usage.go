package pipeline

import (
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
)

// now is the pipeline's clock: Config.Now, else time.Now.
func (p *Pipeline) now() time.Time {
	if p.cfg.Now != nil {
		return p.cfg.Now()
	}
	return time.Now()
}

// summariseUsage adds the servers' silence to the summaries of s, whose
// sessions per user came with their changes (State.AddUsage). A server's last
// event counts from the pipeline's start at the earliest: what happened
// before, the plugin did not hear (a restored session, a row of a
// rebuild), so a restart does not find every server silent.
func (p *Pipeline) summariseUsage(s *metrics.Summaries) {
	s.Usage = metrics.UsageOptions{SessionLimit: p.cfg.State.SessionLimit > 0, SilenceAlert: p.cfg.SilenceAlert > 0}
	for i := range s.Servers {
		srv := &s.Servers[i]
		if srv.LastEvent.Before(p.started) {
			srv.LastEvent = p.started
		}
		if p.cfg.SilenceAlert > 0 && srv.ActiveUsers > 0 && s.At.Sub(srv.LastEvent) >= p.cfg.SilenceAlert {
			s.Usage.SilentServers++
		}
	}
}

package pipeline

import (
	"slices"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// SummaryDue asks the summary loop for a summary soon.
func (p *Pipeline) SummaryDue() {
	if p.cfg.SummaryInterval <= 0 || p.cfg.ButlerSummaries {
		return
	}
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// summariseChanges emits summaries after changes, at most once per
// summary_interval.
func (p *Pipeline) summariseChanges() {
	interval := p.cfg.SummaryInterval
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-p.done:
			return
		case <-p.changed:
		}
		p.emitMu.Lock()
		wait := time.Until(p.lastSummary.Add(interval))
		p.emitMu.Unlock()
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-p.done:
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		p.EmitSummaries(p.acc, metrics.TriggerChange)
	}
}

// EmitSummaries adds the summaries of the state now to acc, tagged with
// the trigger. A gather's (TriggerInterval) holds everything; a change
// summary (TriggerChange) the site, and only the servers, virtual proxies
// and apps whose counts or users changed since the previous summary or the
// previous change summary, with the final zeros: a consumer that keeps each
// series' last value has the whole picture, from every summary or from the
// change summaries and the final zeros.
func (p *Pipeline) EmitSummaries(acc telegraf.Accumulator, trigger string) {
	// emitMu keeps snapshots and their metrics in one order, so the last
	// summary an output sees is the newest.
	p.emitMu.Lock()
	defer p.emitMu.Unlock()

	// Only the hand-over of what changed holds up the intake; merging it
	// into the sorted user lists does not.
	p.mu.Lock()
	now := p.now()
	p.state.Sweep(now)
	usage := p.state.TakeUsage()
	changes := p.state.TakeChanges()
	p.mu.Unlock()
	changedOnly := trigger == metrics.TriggerChange
	if changedOnly {
		changes = changes.ChangedOnly()
	}
	s := metrics.Summaries{At: now, AppStream: p.cfg.AppStream}
	s.Site, s.Servers = p.state.Summarise(p.state.AddUsage(changes, usage))
	p.summariseUsage(&s)
	s.VirtualProxies = p.changedVirtualProxies(p.virtualProxySummaries(now), changedOnly)
	s.Apps = p.state.SummariseApps(changes)
	metrics.AddSummaries(acc, &s, trigger, p.cfg.UsersMaxBytes, p.cfg.AppName)
	if p.cfg.Summarised != nil {
		p.cfg.Summarised(acc, &s, trigger)
	}
	p.lastSummary = now
}

// changedVirtualProxies notes the summaries as the last of their virtual
// proxies and returns them or, with changedOnly, those that differ from
// their virtual proxy's previous summary or previous change summary (an
// output may take only those). Called under emitMu.
func (p *Pipeline) changedVirtualProxies(summaries []metrics.VirtualProxySummary, changedOnly bool) []metrics.VirtualProxySummary {
	last := make(map[vpKey]state.Summary, len(summaries))
	lastChange := make(map[vpKey]state.Summary, len(summaries))
	out := summaries[:0]
	for _, vp := range summaries {
		key := vpKey{vp.Server, vp.VirtualProxy}
		prev, ok := p.lastVirtualProxies[key]
		prevChange, okChange := p.lastChangeVirtualProxies[key]
		last[key] = vp.Summary
		if changedOnly {
			lastChange[key] = vp.Summary
		} else if okChange {
			lastChange[key] = prevChange
		}
		if !changedOnly || !ok || !okChange || !sameSummary(prev, vp.Summary) || !sameSummary(prevChange, vp.Summary) {
			out = append(out, vp)
		}
	}
	// A virtual proxy without an answer now is forgotten: its next one
	// goes out.
	p.lastVirtualProxies, p.lastChangeVirtualProxies = last, lastChange
	return out
}

// vpKey names a virtual proxy's summary.
type vpKey struct{ server, virtualProxy string }

func sameSummary(a, b state.Summary) bool {
	return a.Server == b.Server && a.ActiveUsers == b.ActiveUsers && a.ActiveSessions == b.ActiveSessions &&
		slices.Equal(a.Users, b.Users)
}

// virtualProxySummaries summarises each virtual proxy's last answer.
func (p *Pipeline) virtualProxySummaries(now time.Time) []metrics.VirtualProxySummary {
	out := make([]metrics.VirtualProxySummary, 0, len(p.cfg.VirtualProxies))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, vp := range p.cfg.VirtualProxies {
		api, ok := p.answers[vp]
		if !ok {
			continue
		}
		s := state.New(state.Config{MaxUsers: p.cfg.State.MaxUsers})
		s.BeginReconcile(vp.Server)
		s.Reconcile(vp.Server, api, now)
		site, _ := s.Snapshot()
		out = append(out, metrics.VirtualProxySummary{Server: vp.Server, VirtualProxy: vp.Tag, Summary: site})
	}
	return out
}

// InternalFields adds the state's gauges and counters, the intake counters
// and Butler's to fields of qliksense_sessions_internal.
func (p *Pipeline) InternalFields(fields map[string]interface{}) {
	p.mu.Lock()
	counters := p.state.Counters()
	fields["tracked_servers"] = int64(p.state.Servers())
	fields["tracked_users"] = int64(p.state.ActiveUsers())
	fields["tracked_user_server_pairs"] = int64(p.state.UserServerPairs())
	fields["tracked_sessions"] = int64(p.state.ActiveSessions())
	fields["tracked_apps"] = int64(p.state.Apps())
	fields["connections_refused_max_apps"] = int64(counters.RefusedMaxApps)
	fields["stops_without_start"] = int64(counters.StopsWithoutStart)
	fields["sessions_inferred"] = int64(counters.SessionsInferred)
	fields["sessions_expired"] = int64(counters.SessionsExpired)
	fields["reconcile_sessions_added"] = int64(counters.ReconcileAdded)
	fields["reconcile_sessions_removed"] = int64(counters.ReconcileRemoved)
	fields["starts_matched"] = int64(counters.StartsMatched)
	fields["starts_cancelled"] = int64(counters.StartsCancelled)
	fields["events_refused_max_users"] = int64(counters.RefusedMaxUsers)
	fields["events_refused_max_servers"] = int64(counters.RefusedMaxServers)
	fields["events_refused_max_user_sessions"] = int64(counters.RefusedMaxUserSessions)
	fields["events_refused_session_id_length"] = int64(counters.RefusedSessionIDLength)
	if len(p.cfg.VirtualProxies) > 0 {
		fields["api_sessions_refused_max_users"] = int64(counters.APIRefusedMaxUsers + p.apiRefusedMaxUsers.Load())
		fields["api_sessions_refused_max_servers"] = int64(counters.APIRefusedMaxServers)
	}
	p.butlerInternal(fields)
	p.periodsInternal(fields)
	p.mu.Unlock()
	if p.bounded != nil {
		// Only an output that can be shed (the execd binary's) counts it.
		fields["metrics_dropped_output_blocked"] = int64(p.droppedOutputBlocked.Load())
	}
	c := p.Counters()
	fields["events_accepted"] = int64(c.EventsAccepted)
	fields["events_ignored"] = int64(c.EventsIgnored)
	fields["events_excluded"] = int64(c.EventsExcluded)
	fields["malformed"] = int64(c.Malformed)
	fields["decoded_ansi"] = int64(c.DecodedANSI)
	fields["state_save_errors"] = int64(c.StateSaveErrors)
}

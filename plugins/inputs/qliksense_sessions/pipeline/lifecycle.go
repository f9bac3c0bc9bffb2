package pipeline

import (
	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/butler"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// Start begins taking events into acc, and the summary and maintenance
// loops. A state restored before shows at once, not at the first gather.
func (p *Pipeline) Start(acc telegraf.Accumulator) {
	p.acc = acc
	p.bounded, _ = acc.(BoundedAdder)
	p.wg.Go(p.summariseChanges)
	p.wg.Go(p.maintain)
}

// WritesLines tells whether the event metrics go out as lines written
// directly (an accumulator that is a BoundedAdder), which copy what they take
// from an event during Handle: its strings need not outlive the call.
func (p *Pipeline) WritesLines() bool { return p.bounded != nil }

// ShowRestored asks for a summary if the state holds sessions (after a
// restore, or a rebuild from the log files).
func (p *Pipeline) ShowRestored() {
	if p.ActiveSessions() > 0 {
		p.SummaryDue()
	}
}

// ActiveSessions is the state's count of sessions now.
func (p *Pipeline) ActiveSessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.ActiveSessions()
}

// ActiveUsers is the state's count of users now.
func (p *Pipeline) ActiveUsers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.ActiveUsers()
}

// Gather emits the summaries tagged trigger=interval.
func (p *Pipeline) Gather(acc telegraf.Accumulator) {
	p.EmitSummaries(acc, metrics.TriggerInterval)
	p.emitPeriods(acc)
}

// Stop ends the loops and saves the state a last time. The sources must
// have stopped handing events.
func (p *Pipeline) Stop() {
	close(p.done)
	p.wg.Wait()
	p.save(true)
}

// Done is closed when Stop begins.
func (p *Pipeline) Done() <-chan struct{} { return p.done }

func (p *Pipeline) stopping() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StateCounters are the state's own counters.
func (p *Pipeline) StateCounters() state.Counters {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Counters()
}

// ButlerCounters are the Butler model's counters; false without
// butler_summaries.
func (p *Pipeline) ButlerCounters() (butler.Counters, bool) {
	if p.butler == nil {
		return butler.Counters{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.butler.tracker.Counters(), true
}

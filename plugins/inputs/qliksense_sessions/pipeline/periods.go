package pipeline

import (
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/periods"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
)

// The usage periods (package periods) hear of the state's changes from
// the state itself (state.Observe), under mu. The event path moves their
// clock to each event's time before the state changes, and hands on the
// final points of the periods that ended, as gathers do.

// HoldPeriodClock (on) lets only log rows move the periods' clock:
// while the log files are rebuilt, the rows' own times make the periods,
// and a gather (or a datagram) at the time of the clock would end them all
// at once. The log file source turns it on before its first row, off once
// rebuilt.
func (p *Pipeline) HoldPeriodClock(on bool) { p.periodClockHeld.Store(on) }

// periodFinals takes the final points of the periods that ended, if any.
// Called under mu.
func (p *Pipeline) periodFinals() []periods.Point {
	if p.periods == nil || !p.periods.HasFinals() {
		return nil
	}
	return p.periods.TakeFinals()
}

// addPeriods adds period points to acc; never under mu. They are not shed:
// a final point is written once.
func addPeriods(acc telegraf.Accumulator, points []periods.Point) {
	for i := range points {
		acc.AddMetric(metrics.PeriodMetric(&points[i]))
	}
}

// emitPeriods adds, at a gather, the final points of the periods that
// ended, the current ones', and the rolling windows.
func (p *Pipeline) emitPeriods(acc telegraf.Accumulator) {
	if p.periods == nil {
		return
	}
	p.mu.Lock()
	now := p.now()
	if !p.periodClockHeld.Load() {
		p.periods.Advance(now)
	}
	points := p.periods.Current(p.periods.TakeFinals())
	rolling := p.periods.Rolling(nil)
	refused := p.periods.Refused()
	p.mu.Unlock()
	addPeriods(acc, points)
	for i := range rolling {
		acc.AddMetric(metrics.DistinctMetric(&rolling[i], now))
	}
	if refused > p.periodsRefusedLogged.Swap(refused) {
		p.cfg.Throttle.Warnf("periods_refused", "distinct_users leaves out %d users since the start: max_users = %d users were remembered already "+
			"(those active within the last 30 days); raise max_users if your site has that many users in 30 days", refused, p.cfg.Periods.MaxUsers)
	}
}

// periodsInternal adds the periods' counters to qliksense_sessions_internal.
// Called under mu.
func (p *Pipeline) periodsInternal(fields map[string]interface{}) {
	if p.periods == nil {
		return
	}
	fields["period_users_refused_max_users"] = int64(p.periods.Refused())
	fields["tracked_period_users"] = int64(p.periods.Remembered())
}

// restorePeriods takes the state file's periods, before its sessions are
// restored (which then count as restored, not started), and reports what
// it skipped. Called under mu.
func (p *Pipeline) restorePeriods(file *statefile.File, now time.Time) {
	if p.periods == nil {
		return
	}
	path := p.cfg.StateFile
	if file.PeriodsUnreadable != "" {
		p.cfg.Log.Warnf("State file %q: %s; the periods start anew (the sessions are restored)", path, file.PeriodsUnreadable)
	}
	if report := p.periods.Restore(file.Periods, now); report.Skipped() {
		p.cfg.Log.Warnf("State file %q: periods: %s", path, report)
	}
	p.periods.Restoring(true)
}

// periodsRestored ends the restore of the sessions: the clock moves to now,
// which ends the periods that ended since the save (their final points go
// out with the next event or gather). Called under mu.
func (p *Pipeline) periodsRestored(now time.Time) {
	if p.periods == nil {
		return
	}
	p.periods.Restoring(false)
	p.periods.Advance(now)
}

package pipeline

import (
	"time"

	"github.com/influxdata/telegraf"
)

// BoundedAdder is an accumulator that can refuse what it cannot queue
// within wait (the execd binary's, whose queue is emptied to stdout), and
// takes lines of line protocol too: with it, the event metrics are written
// as lines directly (metrics.AppendEventLine), which costs no Telegraf
// metric and no serialisation.
type BoundedAdder interface {
	// AddMetricWithin queues m if there is room within wait, and says
	// whether it did.
	AddMetricWithin(m telegraf.Metric, wait time.Duration) bool
	// AddLinesWithin queues lines (whole lines of line protocol, copied) if
	// there is room within wait, and says whether it did.
	AddLinesWithin(lines []byte, wait time.Duration) bool
}

// outputWait is how long an event metric waits for room in a full output
// queue before it is shed: under load the intake keeps the output's pace,
// but a stdout nobody reads (a wedged Telegraf) stops neither the intake nor
// the state, its saves and its summaries.
const outputWait = time.Second

// addEvent hands an event metric to the accumulator, never under mu. With a
// BoundedAdder, a metric that finds no room within outputWait is shed and
// counted (metrics_dropped_output_blocked), and so is every next one that
// finds no room at once, until one does: a blocked output costs one wait,
// not one per event. Summaries are not shed: they are few, and the last one
// is the picture a consumer keeps.
func (p *Pipeline) addEvent(m telegraf.Metric) {
	if p.bounded == nil {
		p.acc.AddMetric(m)
		return
	}
	p.queued(p.bounded.AddMetricWithin(m, p.eventWait()))
}

// addEventLines is addEvent for event lines written directly.
func (p *Pipeline) addEventLines(lines []byte) {
	p.queued(p.bounded.AddLinesWithin(lines, p.eventWait()))
}

// eventWait is how long the next event may wait for room.
func (p *Pipeline) eventWait() time.Duration {
	if p.outputShedding.Load() {
		return 0
	}
	return outputWait
}

// queued notes whether an event's metric was queued or shed.
func (p *Pipeline) queued(ok bool) {
	if ok {
		if p.outputShedding.Load() {
			p.outputShedding.Store(false)
		}
		return
	}
	p.outputShedding.Store(true)
	p.droppedOutputBlocked.Add(1)
	p.cfg.Throttle.Warnf("output_blocked", "Dropped event metrics: the output (stdout) took none for %v; "+
		"metrics_dropped_output_blocked counts them (is Telegraf reading?)", outputWait)
}

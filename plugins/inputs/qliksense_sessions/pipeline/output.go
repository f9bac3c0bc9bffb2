package pipeline

import (
	"time"

	"github.com/influxdata/telegraf"
)

// BoundedAdder is an accumulator that can refuse a metric it cannot queue
// within wait (the execd binary's, whose queue is emptied to stdout).
type BoundedAdder interface {
	// AddMetricWithin queues m if there is room within wait, and says
	// whether it did.
	AddMetricWithin(m telegraf.Metric, wait time.Duration) bool
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
	bounded, ok := p.acc.(BoundedAdder)
	if !ok {
		p.acc.AddMetric(m)
		return
	}
	wait := outputWait
	shedding := p.outputShedding.Load()
	if shedding {
		wait = 0
	}
	if bounded.AddMetricWithin(m, wait) {
		if shedding {
			p.outputShedding.Store(false)
		}
		return
	}
	p.outputShedding.Store(true)
	p.droppedOutputBlocked.Add(1)
	p.cfg.Throttle.Warnf("output_blocked", "Dropped event metrics: the output (stdout) took none for %v; "+
		"metrics_dropped_output_blocked counts them (is Telegraf reading?)", outputWait)
}

package licences

import (
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// burnWindow is how far back the capacity burn rate looks.
const burnWindow = time.Hour

// capacityBurn remembers the analyzer capacity's used minutes of the polls
// of the last hour, for the rate they are used at (our addition to
// Butler's analyzer_capacity point).
type capacityBurn struct {
	samples []burnSample // oldest first
}

type burnSample struct {
	at   time.Time
	used float64
}

// add takes a poll's analyzer capacity and returns the fields it adds to
// the analyzer_capacity point: minutes_per_hour, the rate of used_minutes
// over the last hour of polls (from the newest poll at least an hour old,
// else the oldest, to this one), and hours_left, the
// hours until used_minutes reaches allocated_minutes at that rate (only
// while minutes are being used). Nothing until two polls have been seen;
// a fall of used_minutes (the month's minutes renewed) starts over.
func (b *capacityBurn) add(c qrs.Counts, now time.Time) map[string]interface{} {
	if !c.Enabled || c.UsedMinutes == nil {
		b.samples = b.samples[:0]
		return nil
	}
	used := *c.UsedMinutes
	if n := len(b.samples); n > 0 && (used < b.samples[n-1].used || !now.After(b.samples[n-1].at)) {
		b.samples = b.samples[:0]
	}
	b.samples = append(b.samples, burnSample{at: now, used: used})
	// The base is the newest poll at least burnWindow old, if any: the
	// rate covers the last hour (a little more) even with long intervals.
	drop := 0
	for drop+1 < len(b.samples)-1 && now.Sub(b.samples[drop+1].at) >= burnWindow {
		drop++
	}
	b.samples = append(b.samples[:0], b.samples[drop:]...)
	if len(b.samples) < 2 {
		return nil
	}
	first := b.samples[0]
	rate := (used - first.used) / now.Sub(first.at).Hours()
	fields := map[string]interface{}{"minutes_per_hour": rate}
	if rate > 0 && c.AllocatedMinutes != nil {
		fields["hours_left"] = max(*c.AllocatedMinutes-used, 0) / rate
	}
	return fields
}

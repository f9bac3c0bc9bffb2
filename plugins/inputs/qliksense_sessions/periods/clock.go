package periods

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// The calendar and the clock.
//
// Hours and days are those of Config.Location: a day runs from midnight to
// midnight, so a day with a DST change has 23 or 25 hours, and each hour
// starts on the hour of the local clock (the repeated hour of an autumn
// change is two hours, one per UTC offset). The clock never goes back: a
// time before the latest one given counts as the latest (a log row read
// late, a clock stepped back), so an ended period never reopens and no
// period has a negative length; such events count in the open periods.

// maxGap is the longest jump of the clock whose periods in between get
// points (when someone was active through them): beyond it, the periods
// in between are skipped.
const maxGap = (window + 1) * 24 * time.Hour

// Advance moves the clock to at, if later, and ends the periods it passes:
// their final points wait for TakeFinals. The first call sets the clock and
// opens the periods of at.
func (t *Tracker) Advance(at time.Time) {
	if !t.set {
		t.set, t.now = true, at
		t.openDay(at)
		t.openHour(hourStart(at, t.cfg.Location))
		t.generation++
		return
	}
	if !at.After(t.now) {
		return
	}
	t.now = at
	if at.Before(t.hourEnd) {
		return
	}
	t.roll(at)
}

// Now is the clock: the latest time given to Advance.
func (t *Tracker) Now() time.Time { return t.now }

// roll ends the open hour (and day) and the whole periods up to at, and
// opens at's.
func (t *Tracker) roll(at time.Time) {
	t.generation++
	if at.Sub(t.hourEnd) > maxGap {
		// Too far to tell the periods in between: end the open ones, and
		// open at's.
		t.closeHour()
		t.closeDay()
		t.openDay(at)
		t.openHour(hourStart(at, t.cfg.Location))
		return
	}
	for !at.Before(t.hourEnd) {
		next := t.hourEnd
		t.closeHour()
		if !next.Before(t.dayEnd) {
			t.closeDay()
			t.openDay(next)
		}
		t.openHour(next)
	}
}

// hourStart is the start of the local hour of at: whole hours of its UTC
// offset, so zones 30 or 45 minutes off UTC have their own hours.
func hourStart(at time.Time, loc *time.Location) time.Time {
	_, offset := at.In(loc).Zone()
	local := at.Unix() + int64(offset)
	return time.Unix(local-mod(local, 3600)-int64(offset), 0).In(loc)
}

func mod(a, b int64) int64 {
	if m := a % b; m >= 0 {
		return m
	}
	return a%b + b
}

// dayNumber numbers a local calendar day, 1 for 1 January 1970.
func dayNumber(at time.Time) int32 {
	y, m, d := at.Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()/86400) + 1
}

// openHour opens the hour starting at start: every scope's count starts
// at its users active.
func (t *Tracker) openHour(start time.Time) {
	t.hourStart, t.hourEnd = start, start.Add(time.Hour)
	t.site.hour = opening(&t.site, start)
	for _, srv := range t.servers {
		srv.hour = opening(srv, start)
	}
}

// openDay opens the day of at, and forgets what is beyond the rolling
// windows.
func (t *Tracker) openDay(at time.Time) {
	local := at.In(t.cfg.Location)
	y, m, d := local.Date()
	t.dayStart = time.Date(y, m, d, 0, 0, 0, 0, t.cfg.Location)
	t.dayEnd = time.Date(y, m, d+1, 0, 0, 0, 0, t.cfg.Location)
	previous := t.day
	t.day = dayNumber(local)
	if previous != 0 {
		// The ring's slots of the days passed now hold those days.
		for day := previous + 1; day <= t.day && day-previous <= ring; day++ {
			t.clearDay(day % ring)
		}
	}
	t.site.day = opening(&t.site, t.dayStart)
	for _, srv := range t.servers {
		srv.day = opening(srv, t.dayStart)
	}
	for _, a := range t.apps {
		a.day = opening(a, t.dayStart)
	}
	t.forget()
}

func (t *Tracker) clearDay(slot int32) {
	t.site.inactive[slot] = 0
	for _, srv := range t.servers {
		srv.inactive[slot] = 0
	}
}

func opening(sc *scope, start time.Time) tally {
	p := tally{distinct: sc.users}
	if sc.users > 0 {
		p.peakUsers, p.peakSessions, p.peakAt = sc.users, sc.sessions, start
	}
	return p
}

// forget drops, at a day's start, the marks that no window counts any
// more, the users without marks, and the servers and apps nobody is
// active in or remembers.
func (t *Tracker) forget() {
	oldest := t.day - window + 1
	for key, u := range t.users {
		u.servers = keepMarks(u.servers, func(m *scopeMark) bool { return m.active || m.day >= oldest })
		u.apps = keepMarks(u.apps, func(m *scopeMark) bool { return m.active })
		if !u.site.active && u.site.day < oldest && len(u.servers) == 0 {
			delete(t.users, key)
		}
	}
	for key, srv := range t.servers {
		if srv.users == 0 && srv.marks == 0 {
			srv.forgotten = true
			delete(t.servers, key)
		}
	}
	for key, a := range t.apps {
		if a.users == 0 && a.marks == 0 {
			delete(t.apps, key)
		}
	}
}

// keepMarks keeps the marks that keep says to, in place.
func keepMarks(marks []scopeMark, keep func(*scopeMark) bool) []scopeMark {
	kept := marks[:0]
	for i := range marks {
		if keep(&marks[i]) {
			kept = append(kept, marks[i])
		} else {
			marks[i].scope.marks--
		}
	}
	clear(marks[len(kept):])
	if len(kept) == 0 {
		return nil
	}
	return kept
}

// closeHour writes the final points of the open hour.
func (t *Tracker) closeHour() {
	t.finals = t.appendHour(t.finals, true)
}

// closeDay writes the final points of the open day.
func (t *Tracker) closeDay() {
	t.finals = t.appendDay(t.finals, true)
}

func (t *Tracker) appendHour(points []Point, complete bool) []Point {
	points = appendPoint(points, &t.site, Hour, t.hourStart, &t.site.hour, complete)
	for _, srv := range t.servers {
		points = appendPoint(points, srv, Hour, t.hourStart, &srv.hour, complete)
	}
	return points
}

func (t *Tracker) appendDay(points []Point, complete bool) []Point {
	points = appendPoint(points, &t.site, Day, t.dayStart, &t.site.day, complete)
	for _, srv := range t.servers {
		points = appendPoint(points, srv, Day, t.dayStart, &srv.day, complete)
	}
	for _, a := range t.apps {
		points = appendPoint(points, a, Day, t.dayStart, &a.day, complete)
	}
	return points
}

// appendPoint appends a scope's period, if anybody was active in it.
func appendPoint(points []Point, sc *scope, kind Kind, start time.Time, p *tally, complete bool) []Point {
	if p.distinct == 0 && p.peakUsers == 0 {
		return points
	}
	pt := Point{Kind: kind, Start: start, PeakUsers: p.peakUsers, PeakSessions: p.peakSessions, PeakAt: p.peakAt,
		Distinct: max(p.distinct, p.peakUsers), Started: p.started, Complete: complete}
	if sc.app {
		pt.App, pt.PeakSessions, pt.Started = sc.name, 0, 0
	} else {
		pt.Server = sc.name
	}
	return append(points, pt)
}

// HasFinals tells whether final points wait: a cheap check for the event
// path.
func (t *Tracker) HasFinals() bool { return len(t.finals) > 0 }

// TakeFinals hands over the final points of the periods that ended.
func (t *Tracker) TakeFinals() []Point {
	finals := t.finals
	t.finals = nil
	sortPoints(finals)
	return finals
}

// sortPoints orders points hours before days, by period start, the site
// first, then the servers and the apps by name.
func sortPoints(points []Point) {
	slices.SortFunc(points, func(a, b Point) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), a.Start.Compare(b.Start), strings.Compare(a.App, b.App), strings.Compare(a.Server, b.Server))
	})
}

// Current appends the points of the open periods (Complete false).
func (t *Tracker) Current(points []Point) []Point {
	if !t.set {
		return points
	}
	from := len(points)
	points = t.appendHour(points, false)
	points = t.appendDay(points, false)
	sortPoints(points[from:])
	return points
}

// Rolling appends the distinct users of the last 7 and 30 days of the site
// and of each server with some.
func (t *Tracker) Rolling(out []Rolling) []Rolling {
	if !t.set {
		return out
	}
	out = append(out, t.rollingOf(&t.site))
	from := len(out)
	for _, srv := range t.servers {
		if r := t.rollingOf(srv); r.Distinct30 > 0 {
			out = append(out, r)
		}
	}
	slices.SortFunc(out[from:], func(a, b Rolling) int { return strings.Compare(a.Server, b.Server) })
	return out
}

func (t *Tracker) rollingOf(sc *scope) Rolling {
	r := Rolling{Server: sc.name, Distinct7: sc.users, Distinct30: sc.users}
	for back := range int32(window) {
		n := int(sc.inactive[(t.day-back)%ring])
		if back < 7 {
			r.Distinct7 += n
		}
		r.Distinct30 += n
	}
	return r
}

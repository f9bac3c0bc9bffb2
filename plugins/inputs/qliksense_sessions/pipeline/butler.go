package pipeline

import (
	"bytes"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/butler"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
)

// butlerHook runs accepted datagrams through the Butler model
// (butler_summaries): after each Start session, Open connection and Stop
// session, what Butler 5.x-6.x published.
type butlerHook struct {
	tracker *butler.Tracker
	// raw holds the event's names as Butler read them, from butlerApply to
	// butlerEmit: the state rewrites the event's names to the spellings it
	// saw first.
	raw     event.Event
	pub     butler.Publication
	pending bool
	refused butler.Counters // the tracker's counters when last logged
}

// newButlerHook bounds Butler's lists by max_users and max_servers (its
// per-server lists together at butler.PairsPerUser*max_users entries).
func newButlerHook(maxUsers, maxServers int) *butlerHook {
	return &butlerHook{tracker: butler.New(maxUsers, maxServers)}
}

// butlerApply runs an accepted datagram through the Butler model, before
// the state sees it (and rewrites its names to the spellings it saw first),
// with the names as Butler read them. Called under mu.
func (p *Pipeline) butlerApply(in *event.Parsed) {
	b := p.butler
	if b == nil {
		return
	}
	ev := &in.Event
	b.raw = *ev
	if f := in.ButlerFields; f[0] != nil {
		// Decoded as Windows-1252 for the state; Butler decoded it as UTF-8.
		b.raw.Server, b.raw.Directory, b.raw.UserID = lossyName(f[0]), lossyName(f[1]), lossyName(f[2])
	}
	b.pub, b.pending = b.tracker.Apply(b.raw.Server, b.raw.Command, b.raw.Directory, b.raw.UserID)
	c := b.tracker.Counters()
	if c == b.refused {
		return
	}
	log, maxUsers, maxServers := p.cfg.Throttle, p.cfg.State.MaxUsers, p.cfg.State.MaxServers
	switch {
	case c.UsersRefused != b.refused.UsersRefused:
		log.Warnf("butler_users", "butler_summaries: dropped %s for %s on %s: "+
			"Butler's user list holds %d users (max_users) or its per-server lists %d entries (%d x max_users)",
			ev.Command, ev.UserName(), ev.Server, b.tracker.Users(), butler.PairsPerUser*maxUsers, butler.PairsPerUser)
	case c.ServersRefused != b.refused.ServersRefused:
		log.Warnf("butler_servers", "butler_summaries: dropped %s for %s on %s: Butler's lists hold max_servers = %d servers",
			ev.Command, ev.UserName(), ev.Server, maxServers)
	case c.Unreadable != b.refused.Unreadable:
		log.Warnf("butler_unreadable", "butler_summaries: %s for %s on %s: Butler could not read its own message %q and published nothing; neither do we",
			ev.Command, ev.UserName(), ev.Server, b.raw.Server+": "+b.raw.Directory+"/"+b.raw.UserID)
	}
	b.refused = c
}

// lossyName is a field as Butler's Node.js read it: U+FFFD for each bad
// sequence, then trimmed.
func lossyName(field []byte) string {
	return string(bytes.TrimSpace(butler.AppendLossyUTF8(nil, field)))
}

// butlerNames returns the event to describe in qliksense_session_event:
// ev as the state left it, or with butler_summaries a copy with the names as
// Butler read them (Butler's event messages carried them so). Called under
// mu, after the state applied ev.
func (p *Pipeline) butlerNames(ev *event.Event) *event.Event {
	b := p.butler
	if b == nil {
		return ev
	}
	named := *ev
	named.Server, named.Directory, named.UserID = b.raw.Server, b.raw.Directory, b.raw.UserID
	b.raw = named
	return &b.raw
}

// butlerEmit returns what Butler published after the event butlerApply saw,
// to add after that event's qliksense_session_event, as Butler published its
// counts after the event's message. Called under mu; its metrics are added
// after it.
func (p *Pipeline) butlerEmit(at time.Time) []telegraf.Metric {
	b := p.butler
	if b == nil {
		return nil
	}
	b.raw = event.Event{} // its strings may alias the datagram
	if !b.pending {
		return nil
	}
	b.pending = false
	out := make([]telegraf.Metric, 0, len(b.pub.Servers)+1)
	for _, sc := range b.pub.Servers {
		out = append(out, metric.New(metrics.ButlerServer,
			map[string]string{"server": sc.Server, "trigger": metrics.TriggerChange},
			map[string]interface{}{"active_users": int64(sc.ActiveUsers)}, at))
	}
	return append(out, metric.New(metrics.ButlerSite,
		map[string]string{"trigger": metrics.TriggerChange},
		map[string]interface{}{"active_users": int64(b.pub.ActiveUsers), "users": b.pub.UsersJSON}, at))
}

// butlerInternal adds the Butler model's counters to
// qliksense_sessions_internal. Called under mu.
func (p *Pipeline) butlerInternal(fields map[string]interface{}) {
	if p.butler == nil {
		return
	}
	c := p.butler.tracker.Counters()
	fields["butler_events_refused_max_users"] = int64(c.UsersRefused)
	fields["butler_events_refused_max_servers"] = int64(c.ServersRefused)
	fields["butler_events_unreadable"] = int64(c.Unreadable)
	fields["tracked_butler_users"] = int64(p.butler.tracker.Users())
	fields["tracked_butler_servers"] = int64(p.butler.tracker.Servers())
}

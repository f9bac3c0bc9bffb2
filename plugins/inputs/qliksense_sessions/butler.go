package qliksense_sessions

import (
	"bytes"
	"time"
	"unicode/utf8"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/butler"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Measurements of butler_summaries: what Butler 5.x-6.x published after each
// Start session, Open connection and Stop session.
const (
	butlerSiteMeasurement   = "qliksense_users_butler"
	butlerServerMeasurement = "qliksense_users_server_butler"
)

// butlerMode is the butler_summaries option and its state; QlikSenseSessions
// embeds it.
type butlerMode struct {
	// ButlerSummaries makes the change-driven summaries Butler's: after each
	// accepted Start session, Open connection and Stop session, one
	// qliksense_users_server_butler per server Butler would publish, then one
	// qliksense_users_butler, with Butler's counts and usernames byte for
	// byte; the plugin's own change-driven summaries are off (gathers still
	// emit the exact ones) and events carry the names as the proxy sent them.
	ButlerSummaries bool `toml:"butler_summaries"`

	butler *butlerState
}

type butlerState struct {
	tracker *butler.Tracker
	// raw holds the event's names as Butler read them, from butlerApply to
	// butlerEmit: the state rewrites the event's names to the spellings it
	// saw first.
	raw     event.Event
	pub     butler.Publication
	pending bool
	refused butler.Counters // the tracker's counters when last logged
}

// startButler sets up the Butler model when butler_summaries is on.
func (q *QlikSenseSessions) startButler() {
	q.butler = nil
	if q.ButlerSummaries {
		// max_users and max_servers bound Butler's lists too (its per-server
		// lists together at butler.PairsPerUser*max_users entries).
		q.butler = &butlerState{tracker: butler.New(q.MaxUsers, q.MaxServers)}
	}
}

// butlerApply runs an accepted event through the Butler model, before the
// state sees it (and rewrites its names to the spellings it saw first), with
// the names as Butler read them from the datagram (payload). Called under
// q.mu.
func (q *QlikSenseSessions) butlerApply(ev *event.Event, payload []byte) {
	b := q.butler
	if b == nil {
		return
	}
	b.raw = *ev
	if !utf8.Valid(payload) {
		// Decoded as Windows-1252 for the state; Butler decoded it as UTF-8.
		b.raw.Server, b.raw.Directory, b.raw.UserID = butlerDecode(payload, ev)
	}
	b.pub, b.pending = b.tracker.Apply(b.raw.Server, b.raw.Command, b.raw.Directory, b.raw.UserID)
	if c := b.tracker.Counters(); c != b.refused {
		switch {
		case c.UsersRefused != b.refused.UsersRefused:
			q.throttle.log("butler_users", "butler_summaries: dropped %s for %s on %s: Butler's user list holds %d users (max_users) or its per-server lists %d entries (%d x max_users)",
				ev.Command, ev.UserName(), ev.Server, b.tracker.Users(), butler.PairsPerUser*q.MaxUsers, butler.PairsPerUser)
		case c.ServersRefused != b.refused.ServersRefused:
			q.throttle.log("butler_servers", "butler_summaries: dropped %s for %s on %s: Butler's lists hold max_servers = %d servers",
				ev.Command, ev.UserName(), ev.Server, q.MaxServers)
		case c.Unreadable != b.refused.Unreadable:
			q.throttle.log("butler_unreadable", "butler_summaries: %s for %s on %s: Butler could not read its own message %q and published nothing; neither do we",
				ev.Command, ev.UserName(), ev.Server, b.raw.Server+": "+b.raw.Directory+"/"+b.raw.UserID)
		}
		b.refused = c
	}
}

// butlerNames returns the event to describe in qliksense_session_event:
// ev as the state left it, or with butler_summaries a copy with the names as
// Butler read them (Butler's event messages carried them so). Called under
// q.mu, after the state applied ev.
func (q *QlikSenseSessions) butlerNames(ev *event.Event) *event.Event {
	b := q.butler
	if b == nil {
		return ev
	}
	named := *ev
	named.Server, named.Directory, named.UserID = b.raw.Server, b.raw.Directory, b.raw.UserID
	b.raw = named
	return &b.raw
}

// butlerDecode returns the server, directory and user id of a payload that
// is not UTF-8, decoded as Butler's Node.js decoded it (U+FFFD for each bad
// sequence), from the fields the parser took them from.
func butlerDecode(payload []byte, ev *event.Event) (server, directory, userID string) {
	trimmed := bytes.Trim(payload, " \t\r\n")
	fields := bytes.SplitN(trimmed, []byte(";"), 8)
	at := [3]int{1, 3, 4} // marker formats: marker;host;command;directory;user;...
	if len(trimmed) > 0 && trimmed[0] != '/' {
		at = [3]int{0, 2, 3} // legacy: host;command;directory;user
	}
	if len(fields) <= at[2] {
		return ev.Server, ev.Directory, ev.UserID // not reached: the parser accepted it
	}
	name := func(i int) string {
		return string(bytes.TrimSpace(butler.AppendLossyUTF8(nil, fields[at[i]])))
	}
	return name(0), name(1), name(2)
}

// butlerEmit adds what Butler published after the event butlerApply saw,
// after that event's qliksense_session_event, as Butler published its counts
// after the event's message. Called under q.mu.
func (q *QlikSenseSessions) butlerEmit(at time.Time) {
	b := q.butler
	if b == nil {
		return
	}
	b.raw = event.Event{} // its strings may alias the datagram
	if !b.pending {
		return
	}
	b.pending = false
	for _, sc := range b.pub.Servers {
		q.acc.AddFields(butlerServerMeasurement,
			map[string]interface{}{"active_users": int64(sc.ActiveUsers)},
			map[string]string{"server": sc.Server, "trigger": triggerChange}, at)
	}
	q.acc.AddFields(butlerSiteMeasurement,
		map[string]interface{}{"active_users": int64(b.pub.ActiveUsers), "users": b.pub.UsersJSON},
		map[string]string{"trigger": triggerChange}, at)
}

// butlerInternal adds the Butler model's counters to
// qliksense_sessions_internal. Called under q.mu.
func (q *QlikSenseSessions) butlerInternal(fields map[string]interface{}) {
	if q.butler == nil {
		return
	}
	c := q.butler.tracker.Counters()
	fields["butler_events_refused_max_users"] = int64(c.UsersRefused)
	fields["butler_events_refused_max_servers"] = int64(c.ServersRefused)
	fields["butler_events_unreadable"] = int64(c.Unreadable)
	fields["tracked_butler_users"] = int64(q.butler.tracker.Users())
	fields["tracked_butler_servers"] = int64(q.butler.tracker.Servers())
}

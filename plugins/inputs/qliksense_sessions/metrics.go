package qliksense_sessions

import (
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/butler"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// eventMetric describes one accepted event. Its strings must not alias a
// reused buffer: they go out with the metric.
func eventMetric(ev *event.Event, activeUsers int, withMessage bool, at time.Time) telegraf.Metric {
	tags := map[string]string{
		"server":         ev.Server,
		"event":          ev.Command.EventName(),
		"user_directory": ev.Directory,
	}
	fields := make(map[string]interface{}, 7)
	fields["user"] = ev.UserName()
	fields["user_id"] = ev.UserID
	fields["active_users"] = int64(activeUsers)
	for _, f := range [...]struct{ name, value string }{{"origin", ev.Origin}, {"context", ev.Context}, {"app_id", event.AppID(ev.Context)}} {
		if f.value != "" {
			fields[f.name] = f.value
		}
	}
	if ev.Command == event.StopSession && ev.Duration > 0 {
		fields["session_duration_s"] = ev.Duration.Seconds()
	}
	if withMessage && ev.Message != "" {
		fields["message"] = ev.Message
	}
	return metric.New("qliksense_session_event", tags, fields, at)
}

// Values of the summaries' trigger tag: why a summary went out.
const (
	triggerChange   = "change"   // the active set changed (coalesced per summary_interval)
	triggerInterval = "interval" // a gather
)

// emitSummaries adds qliksense_users and one qliksense_users_server per
// server to acc, tagged with the trigger.
func (q *QlikSenseSessions) emitSummaries(acc telegraf.Accumulator, trigger string) {
	// emitMu keeps snapshots and their metrics in one order, so the last
	// summary an output sees is the newest.
	q.emitMu.Lock()
	defer q.emitMu.Unlock()

	// Only the hand-over of what changed holds up the intake; merging it
	// into the sorted user lists does not.
	q.mu.Lock()
	now := time.Now()
	q.state.Sweep(now)
	changes := q.state.TakeChanges()
	q.mu.Unlock()
	site, servers := q.state.Summarise(changes)
	apps := q.state.SummariseApps(changes)

	maxBytes := int(q.UsersMaxBytes)
	acc.AddFields("qliksense_users", summaryFields(site, maxBytes), map[string]string{"trigger": trigger}, now)
	for _, srv := range servers {
		acc.AddFields("qliksense_users_server", summaryFields(srv, maxBytes), map[string]string{"server": srv.Server, "trigger": trigger}, now)
	}
	for _, m := range q.virtualProxySummaries(trigger) {
		acc.AddMetric(m)
	}
	for _, a := range apps {
		tags := map[string]string{"app_id": a.App, "trigger": trigger}
		if name := q.appName(a.App); name != "" {
			tags["app_name"] = name
		}
		acc.AddFields("qliksense_users_app", appFields(a, maxBytes), tags, now)
	}
	q.lastSummary = now
}

// summaryFields are a site's, server's or virtual proxy's summary fields,
// its user list cut to maxBytes.
func summaryFields(s state.Summary, maxBytes int) map[string]interface{} {
	fields := userFields(s, maxBytes)
	fields["active_sessions"] = int64(s.ActiveSessions)
	return fields
}

// appFields are an app summary's fields, its user list cut to maxBytes.
func appFields(a state.Summary, maxBytes int) map[string]interface{} {
	fields := userFields(a, maxBytes)
	fields["active_connections"] = int64(a.ActiveConnections)
	return fields
}

// userFields are the fields every summary has: active_users, users cut to
// maxBytes and, if it was cut, users_truncated.
func userFields(s state.Summary, maxBytes int) map[string]interface{} {
	users, truncated := usersJSON(s.Users, maxBytes)
	fields := map[string]interface{}{
		"active_users": int64(s.ActiveUsers),
		"users":        users,
	}
	if truncated {
		fields["users_truncated"] = true
	}
	return fields
}

// usersJSON renders names as Butler published them: a JSON array, as
// JavaScript's JSON.stringify writes it. The array holds the names that fit
// in maxBytes, whole, in order; truncated says some did not.
func usersJSON(names []string, maxBytes int) (list string, truncated bool) {
	buf := make([]byte, 0, min(maxBytes, 64+len(names)*24))
	buf = append(buf, '[')
	for i, name := range names {
		mark := len(buf)
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = butler.AppendJSONString(buf, name)
		if len(buf)+1 > maxBytes {
			buf, truncated = buf[:mark], true
			break
		}
	}
	return string(append(buf, ']')), truncated
}

func (q *QlikSenseSessions) emitInternal(acc telegraf.Accumulator) {
	q.mu.Lock()
	counters := q.state.Counters()
	fields := map[string]interface{}{
		"tracked_servers":              int64(q.state.Servers()),
		"tracked_users":                int64(q.state.ActiveUsers()),
		"tracked_user_server_pairs":    int64(q.state.UserServerPairs()),
		"tracked_sessions":             int64(q.state.ActiveSessions()),
		"tracked_apps":                 int64(q.state.Apps()),
		"connections_refused_max_apps": int64(counters.RefusedMaxApps),
		"stops_without_start":          int64(counters.StopsWithoutStart),
		"sessions_inferred":            int64(counters.SessionsInferred),
		"sessions_expired":             int64(counters.SessionsExpired),
		"reconcile_sessions_added":     int64(counters.ReconcileAdded),
		"reconcile_sessions_removed":   int64(counters.ReconcileRemoved),
		"starts_matched":               int64(counters.StartsMatched),
		"starts_cancelled":             int64(counters.StartsCancelled),
		"events_refused_max_users":     int64(counters.RefusedMaxUsers),
		"events_refused_max_servers":   int64(counters.RefusedMaxServers),
	}
	q.butlerInternal(fields)
	q.mu.Unlock()
	fields["datagrams_received"] = int64(q.stats.datagramsReceived.Load())
	fields["events_accepted"] = int64(q.stats.eventsAccepted.Load())
	fields["events_ignored"] = int64(q.stats.eventsIgnored.Load())
	fields["events_excluded"] = int64(q.stats.eventsExcluded.Load())
	fields["malformed"] = int64(q.stats.malformed.Load())
	fields["rejected_source"] = int64(q.stats.rejectedSource.Load())
	fields["oversize"] = int64(q.stats.oversize.Load())
	fields["decoded_ansi"] = int64(q.stats.decodedANSI.Load())
	fields["proxy_polls"] = int64(q.stats.proxyPolls.Load())
	fields["proxy_poll_errors"] = int64(q.stats.proxyPollErrors.Load())
	fields["state_save_errors"] = int64(q.stats.stateSaveErrors.Load())
	q.appNamesInternal(fields)
	q.logStats(fields)
	if dropped, ok := q.listener.Dropped(); ok {
		fields["datagrams_dropped"] = int64(dropped)
	}
	acc.AddFields("qliksense_sessions_internal", fields, nil)
}

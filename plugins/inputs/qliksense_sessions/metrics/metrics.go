// Package metrics turns what the state reports into Telegraf metrics: the
// event metric of each accepted event and the summaries. It holds no state.
package metrics

import (
	"strings"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/butler"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// Measurements.
const (
	Event        = "qliksense_session_event"
	Site         = "qliksense_users"
	Server       = "qliksense_users_server"
	VirtualProxy = "qliksense_users_virtual_proxy"
	App          = "qliksense_users_app"
	Internal     = "qliksense_sessions_internal"
	// What butler_summaries publishes after each Start session, Open
	// connection and Stop session, as Butler 5.x-6.x did.
	ButlerSite   = "qliksense_users_butler"
	ButlerServer = "qliksense_users_server_butler"
)

// Values of the summaries' trigger tag: why a summary went out.
const (
	TriggerChange   = "change"   // the active set changed (coalesced per summary_interval)
	TriggerInterval = "interval" // a gather
)

// EventMetric describes one accepted event. Its strings must not alias a
// reused buffer: they go out with the metric.
func EventMetric(ev *event.Event, activeUsers int, withMessage bool, at time.Time) telegraf.Metric {
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
		fields["message"] = OneLine(ev.Message)
	}
	return metric.New(Event, tags, fields, at)
}

// OneLine is a message on one line: each run of CR, LF and tabs becomes
// one space. Line protocol escapes none of them in a string field, so a
// multi-line message would split its metric over lines, and a reader line
// by line of the plugin's output (or of outputs.file) would take the rest
// for metrics of their own.
func OneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return string(appendValue(make([]byte, 0, len(s)), s, true, false))
}

// SummaryFields are a site's, server's or virtual proxy's summary fields,
// its user list cut to maxBytes.
func SummaryFields(s state.Summary, maxBytes int) map[string]interface{} {
	fields := userFields(s, maxBytes)
	fields["active_sessions"] = int64(s.ActiveSessions)
	return fields
}

// AppFields are an app summary's fields, its user list cut to maxBytes.
func AppFields(a state.Summary, maxBytes int) map[string]interface{} {
	fields := userFields(a, maxBytes)
	fields["active_connections"] = int64(a.ActiveConnections)
	return fields
}

// userFields are the fields every summary has: active_users, users cut to
// maxBytes and, if it was cut, users_truncated.
func userFields(s state.Summary, maxBytes int) map[string]interface{} {
	users, truncated := UsersJSON(s.Users, maxBytes)
	fields := map[string]interface{}{
		"active_users": int64(s.ActiveUsers),
		"users":        users,
	}
	if truncated {
		fields["users_truncated"] = true
	}
	return fields
}

// UsersJSON renders names as Butler published them: a JSON array, as
// JavaScript's JSON.stringify writes it. The array holds the names that fit,
// whole, in order, so that the field is at most maxBytes as line protocol
// writes it (LineProtocolSize); truncated says some did not fit.
func UsersJSON(names []string, maxBytes int) (list string, truncated bool) {
	buf := make([]byte, 0, min(maxBytes, 64+len(names)*24))
	buf = append(buf, '[')
	size := 2 // '[' and ']'
	for i, name := range names {
		mark := len(buf)
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = butler.AppendJSONString(buf, name)
		size += LineProtocolSize(buf[mark:])
		if size > maxBytes {
			buf, truncated = buf[:mark], true
			break
		}
	}
	return string(append(buf, ']')), truncated
}

// LineProtocolSize is the size of a string field's value as line protocol
// writes it, between its quotes: every quote and backslash gets a backslash. A
// users list of names all quotes or backslashes is twice its JSON.
func LineProtocolSize(value []byte) int {
	n := len(value)
	for _, c := range value {
		if c == '"' || c == '\\' {
			n++
		}
	}
	return n
}

// Summaries is one summary of everything: the site, each server, each
// virtual proxy answer and each app.
type Summaries struct {
	At             time.Time
	Site           state.Summary
	Servers        []state.Summary
	VirtualProxies []VirtualProxySummary
	Apps           []state.Summary
	// AppStream, if set, names an app's stream for the stream tag of
	// qliksense_users_app ("" for none).
	AppStream func(id string) string
	Usage     UsageOptions // of Site and Servers (usage.go)
}

// VirtualProxySummary is what one virtual proxy of a server answered last.
type VirtualProxySummary struct {
	Server, VirtualProxy string
	Summary              state.Summary
}

// AddSummaries adds qliksense_users, one qliksense_users_server per server,
// one qliksense_users_virtual_proxy per answer and one qliksense_users_app
// per app to acc, tagged with the trigger; appName (nil: none) names apps.
func AddSummaries(acc telegraf.Accumulator, s *Summaries, trigger string, maxBytes int, appName func(id string) string) {
	site := SummaryFields(s.Site, maxBytes)
	s.addUsage(site, &s.Site, true, maxBytes)
	acc.AddFields(Site, site, map[string]string{"trigger": trigger}, s.At)
	for i := range s.Servers {
		srv := &s.Servers[i]
		fields := SummaryFields(*srv, maxBytes)
		s.addUsage(fields, srv, false, maxBytes)
		acc.AddFields(Server, fields, map[string]string{"server": srv.Server, "trigger": trigger}, s.At)
	}
	for _, vp := range s.VirtualProxies {
		acc.AddMetric(metric.New(VirtualProxy,
			map[string]string{"server": vp.Server, "virtual_proxy": vp.VirtualProxy, "trigger": trigger}, SummaryFields(vp.Summary, maxBytes), s.At))
	}
	for _, a := range s.Apps {
		tags := map[string]string{"app_id": a.App, "trigger": trigger}
		if appName != nil {
			if name := appName(a.App); name != "" {
				tags["app_name"] = name
			}
		}
		if s.AppStream != nil {
			if stream := s.AppStream(a.App); stream != "" {
				tags["stream"] = stream
			}
		}
		acc.AddFields(App, AppFields(a, maxBytes), tags, s.At)
	}
}

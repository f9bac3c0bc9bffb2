package applist

import (
	"cmp"
	"slices"
	"strings"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// Users per stream (issue 20): the app list the repository block fetches
// for the names gives each app's stream (unpublished apps count under
// "(unpublished)"); the app summaries' users are grouped by it.

// stream is the stream of the app with the id, or ok false when the
// repository has not named it. It never waits.
func (l *List) stream(id string) (qrs.Stream, bool) {
	streams := l.streams.Load()
	if streams == nil {
		return qrs.Stream{}, false
	}
	s, ok := (*streams)[strings.ToLower(id)]
	return s, ok
}

// StreamName is the stream tag of qliksense_users_app: the app's stream's
// name, "" when unknown.
func (l *List) StreamName(id string) string {
	s, _ := l.stream(id)
	return s.Name
}

// streamUsers is one stream's distinct users, by case-folded DIR\userid.
type streamUsers struct {
	stream qrs.Stream
	users  map[string]string
}

// AddUsersStream adds one qliksense_users_stream per stream of the
// summary's apps (every stream with users, at a gather): the distinct
// users with a connection to an app of the stream, listed as the app
// summaries do. A change summary carries only the apps that changed, so the
// users of each app come from appUsers, the app's last summary (the
// summaries of a consumer that keeps each series' last value are the whole
// picture). An app whose last connection closed brings its stream's final
// zero, if it was the stream's last. Called under the pipeline's emitMu.
func (l *List) AddUsersStream(acc telegraf.Accumulator, s *metrics.Summaries, trigger string) {
	if l.appUsers == nil {
		l.appUsers = make(map[string][]string)
	}
	touched := make(map[qrs.Stream]bool)
	for _, app := range s.Apps {
		if stream, ok := l.stream(app.App); ok {
			touched[stream] = true
		}
		if len(app.Users) == 0 {
			delete(l.appUsers, app.App)
		} else {
			l.appUsers[app.App] = slices.Clone(app.Users) // the state may reuse its lists
		}
	}
	gather := trigger != metrics.TriggerChange
	byStream := make(map[qrs.Stream]*streamUsers, len(touched))
	for stream := range touched {
		byStream[stream] = &streamUsers{stream: stream, users: make(map[string]string)}
	}
	for id, users := range l.appUsers {
		stream, ok := l.stream(id)
		if !ok {
			continue
		}
		su := byStream[stream]
		if su == nil {
			if !gather {
				continue
			}
			su = &streamUsers{stream: stream, users: make(map[string]string, len(users))}
			byStream[stream] = su
		}
		for _, user := range users {
			su.users[strings.ToLower(user)] = user
		}
	}
	streams := make([]*streamUsers, 0, len(byStream))
	for _, su := range byStream {
		streams = append(streams, su)
	}
	slices.SortFunc(streams, func(a, b *streamUsers) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.stream.Name), strings.ToLower(b.stream.Name)), cmp.Compare(a.stream.ID, b.stream.ID))
	})
	for _, su := range streams {
		keys := make([]string, 0, len(su.users))
		for key := range su.users {
			keys = append(keys, key)
		}
		slices.Sort(keys)
		users := make([]string, len(keys))
		for i, key := range keys {
			users[i] = su.users[key]
		}
		tags := map[string]string{"stream": su.stream.Name, "trigger": trigger}
		if su.stream.ID != "" {
			tags["stream_id"] = su.stream.ID
		}
		acc.AddFields(metrics.UsersStream, metrics.SummaryUserFields(len(users), users, l.cfg.UsersMaxBytes), tags, s.At)
	}
}

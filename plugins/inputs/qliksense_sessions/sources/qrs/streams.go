package qrs

import (
	"strings"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Unpublished is the stream name of apps in no stream (the app list's
// stream is null): they count under it in qliksense_users_stream.
const Unpublished = "(unpublished)"

// Stream is the stream an app is published to: its id (a GUID, in lower
// case; "" for Unpublished) and its name, fit for a tag value.
type Stream struct {
	ID, Name string
}

// streamRef is the app list's stream of an app (condensed: id and name).
type streamRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// addStream notes the stream of an app with a GUID, at most maxApps of
// them: Unpublished when it has none; a stream whose id is no GUID or
// whose name is unfit for a tag value (control characters, empty) leaves
// the app without one; long names are cut as app names are.
func (n *Names) addStream(a app, maxApps int) {
	if !event.IsGUID(a.ID) || len(n.Streams) >= maxApps {
		return
	}
	s := Stream{Name: Unpublished}
	if a.Stream != nil {
		if !event.IsGUID(a.Stream.ID) || a.Stream.Name == "" || hasControl(a.Stream.Name) {
			return
		}
		s = Stream{ID: strings.ToLower(a.Stream.ID), Name: cutName(a.Stream.Name)}
	}
	if n.Streams == nil {
		n.Streams = make(map[string]Stream)
	}
	n.Streams[strings.ToLower(a.ID)] = s
}

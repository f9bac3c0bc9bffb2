package metrics

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// serializedEvent is EventMetric's metric as Telegraf's influx serializer
// writes it, its fields sorted (influx_sort_fields).
func serializedEvent(t testing.TB, ev *event.Event, activeUsers int, withMessage bool, at time.Time) string {
	serializer := &influx.Serializer{SortFields: true}
	require.NoError(t, serializer.Init())
	line, err := serializer.Serialize(EventMetric(ev, activeUsers, withMessage, at))
	require.NoError(t, err)
	return string(line)
}

// TestEventLineIsTheSerializers: the line the plugin writes for an event is
// the serializer's, byte for byte, for every command, with and without
// message, duration and app, and with every byte the serializer escapes (or
// cuts) in tags and string fields.
func TestEventLineIsTheSerializers(t *testing.T) {
	at := time.Date(2026, 12, 7, 8, 0, 0, 123456789, time.UTC)
	base := event.Event{Server: "SENSE1", Directory: "LAB", UserID: "anna", Origin: "AppAccess",
		Context: "/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d?reloadUri=x", Message: "Start session for user 'LAB\\anna'"}
	events := map[string]func(ev *event.Event){
		"plain":                func(*event.Event) {},
		"hub, no app":          func(ev *event.Event) { ev.Context = "/hub/" },
		"no context or origin": func(ev *event.Event) { ev.Context, ev.Origin = "", "" },
		"no message":           func(ev *event.Event) { ev.Message = "" },
		"stop with duration": func(ev *event.Event) {
			ev.Command, ev.Duration = event.StopSession, 90*time.Minute+1500*time.Millisecond
		},
		"stop, tiny duration": func(ev *event.Event) { ev.Command, ev.Duration = event.StopSession, time.Nanosecond },
		"stop, no duration":   func(ev *event.Event) { ev.Command = event.StopSession },
		"open with duration":  func(ev *event.Event) { ev.Command, ev.Duration = event.OpenConnection, time.Second },
		"close":               func(ev *event.Event) { ev.Command = event.CloseConnection },
		"unknown command":     func(ev *event.Event) { ev.Command = event.Unknown },
		"tag escapes": func(ev *event.Event) {
			ev.Server, ev.Directory = "a b,c=d\te\nf\fg\rh", "dir with space,comma=eq"
		},
		"tags end in backslashes": func(ev *event.Event) { ev.Server, ev.Directory = `SENSE\`, `LAB\\\` },
		"tags all backslashes":    func(ev *event.Event) { ev.Server, ev.Directory = `\`, `\\` },
		"empty tags":              func(ev *event.Event) { ev.Server, ev.Directory = "", "" },
		"backslash before space":  func(ev *event.Event) { ev.Server = `a\ b\` },
		"field escapes": func(ev *event.Event) {
			ev.UserID, ev.Origin, ev.Context = `an"na\`, `"\"`, `/app/x"y\z`
		},
		"empty user id": func(ev *event.Event) { ev.UserID = "" },
		"control characters": func(ev *event.Event) {
			ev.UserID, ev.Origin, ev.Message = "a\x00b\x7f", "o\fr\ti\ng\rin", "line1\r\nline2\t\"q\"\\\f\x01\n"
		},
		"message of newlines":  func(ev *event.Event) { ev.Message = "\n\r\t\n" },
		"utf-8 and ansi names": func(ev *event.Event) { ev.UserID, ev.Server = "jürgen_ßø", "SÉNSE" },
	}
	for name, change := range events {
		ev := base
		ev.Command = event.StartSession
		change(&ev)
		for _, withMessage := range []bool{false, true} {
			for _, users := range []int{0, 1, 123456} {
				want := serializedEvent(t, &ev, users, withMessage, at)
				got := string(AppendEventLine(nil, &ev, users, withMessage, at))
				require.Equal(t, want, got, "%s, message %t, %d users", name, withMessage, users)
			}
		}
	}
}

// FuzzEventLine: for any strings, the line is the serializer's.
func FuzzEventLine(f *testing.F) {
	f.Add("SENSE1", "LAB", "anna", "AppAccess", "/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d", "Start session", uint8(1), int64(0))
	f.Add(`a b,c=d\`, "\t\n\f\r", `"\"`, "", "/app/x\"", "m\r\n\tx\"\\", uint8(2), int64(1500000000))
	f.Fuzz(func(t *testing.T, server, directory, userID, origin, context, message string, command uint8, duration int64) {
		ev := event.Event{Server: server, Directory: directory, UserID: userID, Origin: origin, Context: context,
			Message: message, Command: event.Command(command % 5), Duration: time.Duration(duration)}
		at := time.Unix(0, duration)
		require.Equal(t, serializedEvent(t, &ev, 42, true, at), string(AppendEventLine(nil, &ev, 42, true, at)))
	})
}

// BenchmarkEventLine against BenchmarkEventMetric: the direct line and the
// metric the serializer wrote before.
func BenchmarkEventLine(b *testing.B) {
	ev := event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "user000042", Origin: "AppAccess",
		Context: "/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d", Message: "Start session for user 'LAB\\user000042'"}
	at := time.Now()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEventLine(buf[:0], &ev, 5000, true, at)
	}
}

func BenchmarkEventMetric(b *testing.B) {
	ev := event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "user000042", Origin: "AppAccess",
		Context: "/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d", Message: "Start session for user 'LAB\\user000042'"}
	at := time.Now()
	serializer := &influx.Serializer{}
	require.NoError(b, serializer.Init())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := serializer.Serialize(EventMetric(&ev, 5000, true, at)); err != nil {
			b.Fatal(err)
		}
	}
}

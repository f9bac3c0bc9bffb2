package log4net

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

func TestParse(t *testing.T) {
	const app = "6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d"
	tests := []struct {
		name    string
		payload string
		status  event.Status
		reason  string
		event   event.Event
	}{
		{
			name:    "Butler SOS session",
			payload: `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;Start session for user 'LAB\anna'`,
			event: event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "anna",
				Origin: "AppAccess", Context: "/hub/", Message: `Start session for user 'LAB\anna'`},
		},
		{
			name: "Butler SOS connection with app and user agent",
			payload: "/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/app/" + app + "?reloadUri=x;connection Opened for session 's'; " +
				"UserAgent: 'Mozilla/5.0 (X11; Linux x86_64)'",
			event: event.Event{Server: "SENSE1", Command: event.OpenConnection, Directory: "LAB", UserID: "anna",
				Origin: "AppAccess", Context: "/app/" + app + "?reloadUri=x",
				Message: "connection Opened for session 's'; UserAgent: 'Mozilla/5.0 (X11; Linux x86_64)'", SessionID: "s"},
		},
		{
			name:    "Butler 5-6 stop",
			payload: `/proxy-session/;SENSE2;Stop session;CORP;bob;AppAccess;/hub/;bye`,
			event: event.Event{Server: "SENSE2", Command: event.StopSession, Directory: "CORP", UserID: "bob",
				Origin: "AppAccess", Context: "/hub/", Message: "bye"},
		},
		{
			name:    "Butler 5-6 close connection",
			payload: `/proxy-connection/;SENSE2;Close connection;CORP;bob;AppAccess;/hub/;c`,
			event: event.Event{Server: "SENSE2", Command: event.CloseConnection, Directory: "CORP", UserID: "bob",
				Origin: "AppAccess", Context: "/hub/", Message: "c"},
		},
		{
			name:    "upper-case marker",
			payload: `/QSEOW-PROXY-SESSION/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`,
			event: event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "anna",
				Origin: "AppAccess", Context: "/hub/", Message: "m"},
		},
		{
			name:    "message over several lines",
			payload: "/qseow-proxy-session/;SENSE1;Stop session;LAB;anna;AppAccess;/hub/;line one\r\n\tline two",
			event: event.Event{Server: "SENSE1", Command: event.StopSession, Directory: "LAB", UserID: "anna",
				Origin: "AppAccess", Context: "/hub/", Message: "line one\r\n\tline two"},
		},
		{
			name:    "legacy",
			payload: `SENSE3;Start session;LAB;carl`,
			event:   event.Event{Server: "SENSE3", Command: event.StartSession, Directory: "LAB", UserID: "carl"},
		},
		{
			name:    "message keeps its semicolons and quotes",
			payload: `/qseow-proxy-session/;S;Stop session;D;u;o;c;a;b;'c';;d`,
			event:   event.Event{Server: "S", Command: event.StopSession, Directory: "D", UserID: "u", Origin: "o", Context: "c", Message: "a;b;'c';;d"},
		},
		{
			name:    "trailing CR LF and spaces trimmed",
			payload: "SENSE1;Stop session;LAB;carl \r\n",
			event:   event.Event{Server: "SENSE1", Command: event.StopSession, Directory: "LAB", UserID: "carl"},
		},
		{
			name:    "spaces around fields trimmed",
			payload: "/proxy-session/; SENSE1 ;\tStart session ; LAB ; anna ; AppAccess ; /hub/ ; m ",
			event: event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "anna",
				Origin: "AppAccess", Context: "/hub/", Message: "m"},
		},
		{
			name:    "command case ignored",
			payload: `SENSE1;oPEN CONNECTION;LAB;carl`,
			event:   event.Event{Server: "SENSE1", Command: event.OpenConnection, Directory: "LAB", UserID: "carl"},
		},
		{
			name:    "non-ASCII user",
			payload: `SENSE1;Start session;LAB;Jörg`,
			event:   event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "Jörg"},
		},
		{name: "empty", payload: "", status: Malformed, reason: ReasonEmpty},
		{name: "only blanks", payload: " \r\n", status: Malformed, reason: ReasonEmpty},
		{name: "invalid UTF-8", payload: "SENSE1;Start session;LAB;\xff\xfe", status: Malformed, reason: ReasonNotUTF8},
		{name: "Latin-1 user", payload: "SENSE1;Start session;LAB;J\xf6rg", status: Malformed, reason: ReasonNotUTF8},
		{name: "unknown marker", payload: "/other/;S;Start session;D;u;o;c;m", status: Malformed, reason: ReasonUnknownMarker},
		{name: "marker, fields missing", payload: "/proxy-session/;S;Start session;D;u", status: Malformed, reason: ReasonMissingFields},
		{name: "legacy, 3 fields", payload: "S;Start session;D", status: Malformed, reason: ReasonLegacyFields},
		{name: "legacy, 5 fields", payload: "S;Start session;D;u;x", status: Malformed, reason: ReasonLegacyFields},
		{name: "empty host", payload: ";Start session;D;u", status: Malformed, reason: ReasonEmptyServer},
		{name: "empty directory", payload: "S;Start session;;u", status: Malformed, reason: ReasonEmptyDirectory},
		{name: "empty user", payload: "/qseow-proxy-session/;S;Start session;D; ;o;c;m", status: Malformed, reason: ReasonEmptyUser},
		{name: "control in the user id", payload: "S;Start session;D;u\x00", status: Malformed, reason: ReasonControl},
		{name: "control in the message", payload: "/proxy-session/;S;Start session;D;u;o;c;m\x1b", status: Malformed, reason: ReasonControl},
		{name: "host with a space", payload: "SENSE 1;Start session;D;u", status: Malformed, reason: ReasonBadServer},
		{name: "host too long", payload: strings.Repeat("s", 254) + ";Start session;D;u", status: Malformed, reason: ReasonBadServer},
		{name: "untracked command", payload: "S;Login;D;u", status: Ignored, reason: ReasonUnknownCommand},
		{name: "untracked command, empty user", payload: "S;Logout;D;", status: Ignored, reason: ReasonUnknownCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev event.Event
			status, reason := Parse([]byte(tt.payload), &ev)
			require.Equal(t, tt.status, status, reason)
			require.Equal(t, tt.reason, reason)
			if tt.status == Accepted {
				require.Equal(t, tt.event, ev)
			}
		})
	}
}

func TestAppID(t *testing.T) {
	for context, want := range map[string]string{
		"/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d":                       "6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d",
		"/app/6A0B1C2D-3E4F-4A5B-8C7D-9E0F1A2B3C4D/":                      "6A0B1C2D-3E4F-4A5B-8C7D-9E0F1A2B3C4D",
		"/sense/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d/sheet/x/state/a": "6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d",
		"/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d?reloadUri=/app/x":      "6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d",
		"/app/notaguid/then/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d":     "6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d",
		"/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d0":                      "", // 37 hex: not a GUID
		"/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4":                        "", // too short
		"/app/6a0b1c2d_3e4f-4a5b-8c7d-9e0f1a2b3c4d":                       "",
		"/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4z":                       "",
		"/hub/": "",
		"":      "",
	} {
		require.Equal(t, want, event.AppID(context), context)
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	payloads := [][]byte{
		[]byte(`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d;m`),
		[]byte(`SENSE1;Stop session;LAB;anna`),
		[]byte(`/unknown/;x`),
		[]byte(`/QSEOW-PROXY-CONNECTION/;SENSE1;Open connection;LAB;anna;AppAccess;/hub/;connection Opened for session '2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01'`),
		[]byte("S;Start session;D;u\x00"),
		[]byte("SENSE 1;Start session;D;u"),
	}
	var ev event.Event
	for _, p := range payloads {
		require.Zero(t, testing.AllocsPerRun(100, func() { Parse(p, &ev) }), string(p))
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range []string{"valid.txt", "ignored.txt", "malformed.txt", "real-shaped.txt"} {
		for _, s := range sampleFile(f, file) {
			f.Add([]byte(s.payload))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var ev event.Event
		status, reason := Parse(payload, &ev)
		switch status {
		case Accepted:
			if ev.Server == "" || ev.Directory == "" || ev.UserID == "" || ev.Command == event.Unknown {
				t.Fatalf("accepted an incomplete event %+v from %q", ev, payload)
			}
			if !event.ValidHostName(ev.Server) {
				t.Fatalf("accepted the host name %q from %q", ev.Server, payload)
			}
			for _, field := range []string{ev.Directory, ev.UserID, ev.Origin, ev.Context} {
				if strings.ContainsFunc(field, unicode.IsControl) {
					t.Fatalf("accepted the control character in %q from %q", field, payload)
				}
			}
			if strings.ContainsFunc(ev.Message, func(r rune) bool { return unicode.IsControl(r) && !strings.ContainsRune("\t\r\n", r) }) {
				t.Fatalf("accepted the control character in message %q from %q", ev.Message, payload)
			}
			connection := ev.Command == event.OpenConnection || ev.Command == event.CloseConnection
			if ev.SessionID != "" && (!connection || !strings.Contains(ev.Message, ev.SessionID) || strings.Contains(ev.SessionID, "'")) {
				t.Fatalf("session id %q of a %s from %q", ev.SessionID, ev.Command, payload)
			}
		case Ignored, Malformed:
			if reason == "" {
				t.Fatalf("no reason for status %d of %q", status, payload)
			}
		default:
			t.Fatalf("unknown status %d", status)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for name, payload := range map[string]string{
		"sos": `/qseow-proxy-session/;SENSE01;Start session;LAB;user000123;AppAccess;/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d;` +
			`Start session for user 'LAB\user000123'`,
		"sos_connection": "/qseow-proxy-connection/;qlik-proxy-01.corp.example.com;Open connection;LAB;user000123;AppAccess;" +
			"/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d?reloadUri=https%3A%2F%2Fqlik.corp.example.com%2Fsense%2Fapp%2F6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d;" +
			"connection Opened for session '2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01'; " +
			"UserAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'",
		"upper_marker": `/QSEOW-PROXY-SESSION/;SENSE01;Start session;LAB;user000123;AppAccess;/hub/;Start session for user 'LAB\user000123'`,
		"butler":       `/proxy-session/;SENSE01;Start session;LAB;user000123;AppAccess;/hub/;Start session for user 'LAB\user000123'`,
		"legacy":       `SENSE01;Start session;LAB;user000123`,
	} {
		b.Run(name, func(b *testing.B) {
			p := []byte(payload)
			var ev event.Event
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				Parse(p, &ev)
			}
		})
	}
}

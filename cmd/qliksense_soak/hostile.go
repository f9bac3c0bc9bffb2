package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

// What -hostile mixes into the simulation's traffic: datagrams of users and
// servers the simulation never names (directory HOSTILE, servers
// hostile-*), each of a kind whose fate the plugin counts under one name,
// so that every datagram sent is accounted for.
type kind int

const (
	kindOversize       kind = iota // longer than max_datagram_size: oversize
	kindMalformed                  // not a session event (garbage, missing fields, a control character in a name): malformed
	kindUnknownCommand             // a session marker with a command the plugin does not track: events_ignored
	kindExcluded                   // a user exclude_users names: events_excluded
	kindLongID                     // a session id of 129 bytes up to the datagram's limit: events_refused_session_id_length
	kindIDFlood                    // distinct short ids for a few users: events_refused_max_user_sessions past max_user_sessions
	kindPassing                    // a user never seen again, with CR, LF and tabs (and a forged line) in the message: accepted
	kindAppPassing                 // a connection to an app never seen again, and its close: accepted
	kindCrowd                      // the bursts of users past max_users: events_refused_max_users
	kindAppBurst                   // the bursts of apps past max_apps: connections_refused_max_apps
	kindClose                      // what ends the hostile sessions, so that the final set is the simulation's
	kinds
)

var kindNames = [kinds]string{"oversize", "malformed", "unknown command", "excluded user", "session id > 128 bytes",
	"session ids of one user", "passing user, CR/LF/tab message", "passing app", "users past max_users", "apps past max_apps",
	"end of hostile sessions"}

// accepted tells whether the plugin takes datagrams of k into its state
// (events_accepted), refused there or not.
func (k kind) accepted() bool { return k >= kindLongID }

// Limits of the hostile run's plugin: small enough to be reached.
type hostileLimits struct {
	maxDatagram, maxUsers, maxUserSessions, maxApps int
}

const (
	hostileDirectory = "HOSTILE"
	idFloodUsers     = 20 // users whose session ids flood
	maxSessionID     = 128
	// A forged metric in a message: a reader of the plugin's output line by
	// line sees it if a line break gets through.
	forgedLine = "qliksense_users,trigger=x active_users=999i"
)

// hostile makes the hostile datagrams and counts them by kind.
type hostile struct {
	lim    hostileLimits
	format string
	rng    *rand.Rand
	queue  [][]byte
	sent   [kinds]int64
	// ids sent per id-flood user, and the sequence numbers of names.
	idsSent [idFloodUsers]int
	seq     int
	// the session the passing apps' connections belong to is open
	appPassOpen bool
}

func newHostile(lim hostileLimits, seed uint64) *hostile {
	return &hostile{lim: lim, format: "sos", rng: rand.New(rand.NewPCG(seed, 0x4057))} //nolint:gosec // G404: reproducible traffic, not a secret
}

// pending tells whether datagrams of a started action wait.
func (h *hostile) pending() bool { return len(h.queue) > 0 }

// next returns the next queued datagram (pending must be true).
func (h *hostile) next() []byte {
	b := h.queue[0]
	h.queue[0] = nil
	h.queue = h.queue[1:]
	return b
}

// queueEvent encodes ev as the simulation's format and counts it as k.
func (h *hostile) queueEvent(k kind, ev *replay.Event) {
	b, _ := replay.AppendPayload(nil, h.format, ev, zeroTime) //nolint:errcheck // sos is a format
	h.queueRaw(k, b)
}

func (h *hostile) queueRaw(k kind, b []byte) {
	h.queue = append(h.queue, b)
	h.sent[k]++
}

// mix queues one action of a kind picked at random, of those mixed into the
// traffic.
func (h *hostile) mix() {
	h.seq++
	switch k := kind(h.rng.IntN(int(kindAppPassing) + 1)); k {
	case kindOversize:
		h.queueRaw(k, h.oversize())
	case kindMalformed:
		h.queueRaw(k, h.malformed())
	case kindUnknownCommand:
		ev := hostileEvent("hostile-cmd", "Reopen session", fmt.Sprintf("cmd%d", h.seq), "")
		h.queueEvent(k, &ev)
	case kindExcluded:
		ev := hostileEvent("hostile-excl", "Start session", fmt.Sprintf("excluded%d", h.seq), "")
		h.queueEvent(k, &ev)
	case kindLongID:
		n := maxSessionID + 1 + h.rng.IntN(h.lim.maxDatagram-maxSessionID-200)
		ev := hostileConnection("hostile-ids", "Open connection", fmt.Sprintf("longid%d", h.seq%100), idOfLength(h.seq, n), "/hub/")
		h.queueEvent(k, &ev)
	case kindIDFlood:
		u := h.rng.IntN(idFloodUsers)
		h.idsSent[u]++
		id := idOfLength(h.idsSent[u], 1+h.rng.IntN(maxSessionID))
		ev := hostileConnection("hostile-ids", "Open connection", fmt.Sprintf("ids%02d", u), id, "/hub/")
		h.queueEvent(k, &ev)
	case kindPassing:
		user := fmt.Sprintf("passing%d", h.seq)
		for _, cmd := range []string{"Start session", "Stop session"} {
			ev := hostileEvent("hostile-pass", cmd, user, "\r\n"+forgedLine+"\r\n\t"+forgedLine+"\n")
			h.queueEvent(k, &ev)
		}
	case kindAppPassing:
		app := guid(h.seq)
		for _, cmd := range []string{"Open connection", "Close connection"} {
			ev := hostileConnection("hostile-apps", cmd, "apppass", "apppass-session", "/app/"+app)
			h.queueEvent(k, &ev)
		}
		h.appPassOpen = true
	}
}

// hostileEvent is a session event of a hostile user, its message ending in tail.
func hostileEvent(server, command, user, tail string) replay.Event {
	return replay.Event{Server: server, Command: command, Directory: hostileDirectory, UserID: user, Context: "/hub/",
		Message: command + " for user '" + hostileDirectory + `\` + user + "'" + tail}
}

// hostileConnection is a connection event of a hostile user's session id.
func hostileConnection(server, command, user, id, context string) replay.Event {
	verb := "Opened"
	if command == "Close connection" {
		verb = "Closed"
	}
	return replay.Event{Server: server, Command: command, Directory: hostileDirectory, UserID: user, Context: context,
		Message: "connection " + verb + " for session '" + id + "'; UserAgent: 'hostile'", SessionID: id}
}

// oversize is a well-formed event of max_datagram_size+1 bytes up to the
// largest UDP payload.
func (h *hostile) oversize() []byte {
	n := h.lim.maxDatagram + 1 + h.rng.IntN(maxUDPPayload-h.lim.maxDatagram)
	ev := hostileEvent("hostile-big", "Start session", "big", " ")
	b, _ := replay.AppendPayload(nil, h.format, &ev, zeroTime) //nolint:errcheck // sos is a format
	return append(b, strings.Repeat("x", n-len(b))...)
}

const maxUDPPayload = 65507

// zeroTime stamps nothing: the soak's payloads carry no send time.
var zeroTime time.Time

// malformedShapes are payloads the parser refuses, each for another reason.
var malformedShapes = []func(h *hostile) []byte{
	func(h *hostile) []byte { // binary garbage
		b := make([]byte, 1+h.rng.IntN(512))
		for i := range b {
			b[i] = byte(h.rng.UintN(256))
		}
		b[0] = '/' // a marker-like start, so that the marker check refuses it
		return b
	},
	func(*hostile) []byte { return []byte("/qseow-proxy-session/;hostile-bad;Start session;HOSTILE") }, // fields missing
	func(*hostile) []byte {
		return []byte("/not-a-marker/;hostile-bad;Start session;HOSTILE;u;AppAccess;/hub/;m")
	},
	func(h *hostile) []byte { // a control character in the user name
		ev := hostileEvent("hostile-bad", "Start session", fmt.Sprintf("ctl\x01user%d", h.seq), "")
		b, _ := replay.AppendPayload(nil, h.format, &ev, zeroTime) //nolint:errcheck // sos is a format
		return b
	},
	func(h *hostile) []byte { // a control character (other than CR, LF, tab) in the message
		ev := hostileEvent("hostile-bad", "Start session", fmt.Sprintf("ctlmsg%d", h.seq), "\x1b[31m\x00")
		b, _ := replay.AppendPayload(nil, h.format, &ev, zeroTime) //nolint:errcheck // sos is a format
		return b
	},
	func(h *hostile) []byte { // a line break in the server name
		ev := hostileEvent("hostile-bad\n"+forgedLine, "Start session", "u", "")
		b, _ := replay.AppendPayload(nil, h.format, &ev, zeroTime) //nolint:errcheck // sos is a format
		return b
	},
	func(*hostile) []byte {
		return []byte("/qseow-proxy-session/;hostile-bad;Start session;(null);(null);AppAccess;/hub/;m")
	}, // no user
	func(*hostile) []byte {
		return []byte("/qseow-proxy-session/;host name!;Start session;HOSTILE;u;AppAccess;/hub/;m")
	}, // no host name
}

func (h *hostile) malformed() []byte { return malformedShapes[h.rng.IntN(len(malformedShapes))](h) }

// idOfLength is a session id of n bytes unique for seq (n is raised to
// fit it).
func idOfLength(seq, n int) string {
	s := fmt.Sprintf("id%d-", seq)
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat("z", n-len(s))
}

// guid is an app id unique for seq.
func guid(seq int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xbad00000|seq>>48, seq&0xffffffffffff)
}

// crowdBurst queues n users, each one Start session, then their Stops,
// those the state took first so that the refused ones stop in an emptier
// state: the state fills up to max_users and empties again, between two
// events of the simulation.
func (h *hostile) crowdBurst(round, n int) {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("crowd%d-%d", round, i)
		ev := hostileEvent("hostile-crowd", "Start session", users[i], "")
		h.queueEvent(kindCrowd, &ev)
	}
	for _, u := range users {
		ev := hostileEvent("hostile-crowd", "Stop session", u, "")
		h.queueEvent(kindCrowd, &ev)
	}
}

// appBurst queues connections of one session to n distinct apps, then
// their closes and the session's Stop.
func (h *hostile) appBurst(round, n int) {
	user, id := fmt.Sprintf("appburst%d", round), fmt.Sprintf("appburst%d-session", round)
	for _, cmd := range []string{"Open connection", "Close connection"} {
		for i := range n {
			ev := hostileConnection("hostile-apps", cmd, user, id, "/app/"+guid(1<<40|round<<32|i))
			h.queueEvent(kindAppBurst, &ev)
		}
	}
	ev := hostileEvent("hostile-apps", "Stop session", user, "")
	h.queueEvent(kindAppBurst, &ev)
}

// closeAll queues the Stops of every hostile session still open: the
// id-flood users' (as many as the state took) and the passing apps'.
func (h *hostile) closeAll() {
	for u, sent := range h.idsSent {
		for range min(sent, h.lim.maxUserSessions) {
			ev := hostileEvent("hostile-ids", "Stop session", fmt.Sprintf("ids%02d", u), "")
			h.queueEvent(kindClose, &ev)
		}
	}
	if h.appPassOpen {
		ev := hostileEvent("hostile-apps", "Stop session", "apppass", "")
		h.queueEvent(kindClose, &ev)
	}
}

// refusedMaxUserSessions is what the id flood must have been refused.
func (h *hostile) refusedMaxUserSessions() int64 {
	var n int64
	for _, sent := range h.idsSent {
		n += int64(max(0, sent-h.lim.maxUserSessions))
	}
	return n
}

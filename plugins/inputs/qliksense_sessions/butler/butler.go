// Package butler reproduces what Butler 5.x-6.x published on MQTT about
// active users, for consumers that must not see a change when they move from
// Butler to qliksense_sessions. It is a model of Butler's bugs as much as of
// its features: the user list is keyed by the bare user id, a user's first
// Stop session removes them, per-server lists keep users whose stop came
// through another server, and servers are never forgotten.
//
// What Butler 6.1.1 does (src/udp/udp_handlers.js, src/mqtt/mqtt_handlers.js;
// 5.4.x is the same code before a reformatting):
//
//   - For each session or connection datagram it publishes
//     "<host>: <directory>/<userid>" on sessionStartTopic, sessionStopTopic,
//     connectionOpenTopic or connectionCloseTopic (fields split on ';').
//   - It subscribes to its own subscriptionRootTopic (qliksense/#), so it
//     receives that message back. On sessionStartTopic and
//     connectionOpenTopic it splits the message on ": " (server: the first
//     piece) and the second piece on "/" (user: the second piece), then
//     currentUsers.set(user, server) and currentUsersPerServer[server].set(user);
//     on sessionStopTopic it deletes the user from currentUsers and, if the
//     server is known, from that server's list. Connection close changes
//     nothing and publishes nothing.
//   - After each of those three it publishes, with mqtt.js's defaults (QoS 0,
//     not retained): on start and open, for every server it ever saw, in the
//     order it first saw them, qliksense/users/activeperserver/<server>/count
//     = that server's list size; on stop the same, but only when the stop's
//     server is known; then activeUserCountTopic = currentUsers.size, then
//     activeUsersTopic = JSON.stringify of currentUsers' keys in iteration
//     order. Nothing is published periodically.
//   - currentUsers and the per-server lists are dict@1.4.0 objects: a
//     prototype-less object whose keys are "~" + key, iterated with for-in.
//     Such keys are never array indices, so iteration is insertion order;
//     setting an existing key keeps its place, deleting and adding again
//     moves it to the end.
//   - dict's set and delete throw a TypeError for a key that is not a string.
//     When the second piece holds no "/" the user is undefined: the handler
//     throws before it publishes anything.
//
// The Tracker holds that state within limits (New) and returns, for each
// event, what Butler would have published.
package butler

import (
	"bytes"
	"unicode/utf8"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// PairsPerUser bounds the per-server lists together at PairsPerUser times
// the user limit. Butler keeps a user on a server whose session ended
// through another server (or whose stop was lost), so these lists can hold
// more entries than the user list; on a real site they hold about one or two
// per active user.
const PairsPerUser = 4

// ServerCount is one qliksense/users/activeperserver/<Server>/count message.
type ServerCount struct {
	Server      string
	ActiveUsers int
}

// Publication is what Butler publishes after one event, in its order: one
// message per entry of Servers, then the count, then the usernames.
type Publication struct {
	// Servers may be empty (a stop on a server Butler never saw). The slice
	// is reused by the next Apply; its strings may be kept.
	Servers []ServerCount
	// ActiveUsers is the activeUserCountTopic payload (as a decimal number).
	ActiveUsers int
	// UsersJSON is the activeUsersTopic payload, byte for byte.
	UsersJSON string
}

// Counters says what the limits refused.
type Counters struct {
	// UsersRefused counts start and open events refused because Butler's
	// user list or the per-server lists were full.
	UsersRefused uint64
	// ServersRefused counts start and open events refused because they
	// named a new server beyond the server limit.
	ServersRefused uint64
	// Unreadable counts start, open and stop events that Butler's handler
	// could not read (the part after "<server>: " has no "/"): it throws
	// and publishes nothing.
	Unreadable uint64
}

// Tracker is Butler's globals.currentUsers and globals.currentUsersPerServer.
// It is not safe for concurrent use.
type Tracker struct {
	maxUsers, maxServers, maxPairs int

	users   orderedSet // currentUsers
	servers []*serverList
	byName  map[string]*serverList
	pairs   int // entries of all per-server lists together

	counters Counters
	msg      []byte        // Butler's MQTT event message, rebuilt per event
	json     []byte        // the usernames payload being built
	usersJS  string        // the usernames payload while the list is unchanged
	stale    bool          // the list changed since usersJS was built
	out      []ServerCount // Publication.Servers
}

type serverList struct {
	name  string
	users map[string]struct{}
}

// New returns an empty Tracker that holds at most maxUsers user ids in its
// user list, PairsPerUser*maxUsers entries in its per-server lists together
// and maxServers servers. Limits below 1 are taken as 1.
func New(maxUsers, maxServers int) *Tracker {
	maxUsers = max(maxUsers, 1)
	return &Tracker{
		maxUsers:   maxUsers,
		maxServers: max(maxServers, 1),
		maxPairs:   PairsPerUser * maxUsers,
		users:      orderedSet{index: make(map[string]int)},
		byName:     make(map[string]*serverList),
	}
}

// Counters returns what the limits refused so far.
func (t *Tracker) Counters() Counters { return t.counters }

// Users returns how many user ids Butler's user list holds.
func (t *Tracker) Users() int { return t.users.live }

// Servers returns how many servers Butler knows.
func (t *Tracker) Servers() int { return len(t.servers) }

// Apply runs one event through Butler's handlers. server, directory and
// userID are the fields as the proxy sent them (Butler takes them verbatim:
// no trimming, no case folding). It returns what Butler publishes and true,
// or false when Butler publishes nothing: Close connection, an unreadable
// message, or an event the limits refused (Counters tells which).
func (t *Tracker) Apply(server string, cmd event.Command, directory, userID string) (Publication, bool) {
	switch cmd {
	case event.StartSession, event.OpenConnection, event.StopSession:
	default:
		return Publication{}, false
	}
	// Butler's MQTT message, as its own subscription hands it back.
	t.msg = append(append(append(append(append(t.msg[:0], server...), ": "...), directory...), '/'), userID...)
	srvName, user, ok := readMessage(t.msg)
	if !ok {
		t.counters.Unreadable++
		return Publication{}, false
	}
	if cmd == event.StopSession {
		return t.stop(srvName, user), true
	}
	return t.add(srvName, user)
}

// readMessage splits a message as Butler's handler does:
// array1 = message.split(': '), server = array1[0],
// user = array1[1].split('/')[1]. ok is false where user is undefined.
func readMessage(msg []byte) (server, user []byte, ok bool) {
	sep := []byte(": ")
	i := bytes.Index(msg, sep)
	if i < 0 {
		// Not reached: the message is built with ": ". array1[1] would be
		// undefined and its split throw.
		return nil, nil, false
	}
	server = msg[:i]
	second := msg[i+len(sep):]
	if j := bytes.Index(second, sep); j >= 0 {
		second = second[:j]
	}
	slash := bytes.IndexByte(second, '/')
	if slash < 0 {
		return nil, nil, false
	}
	user = second[slash+1:]
	if k := bytes.IndexByte(user, '/'); k >= 0 {
		user = user[:k]
	}
	return server, user, true
}

// add is the sessionStartTopic / connectionOpenTopic handler.
func (t *Tracker) add(srvName, user []byte) (Publication, bool) {
	srv := t.byName[string(srvName)]
	if srv == nil && len(t.servers) >= t.maxServers {
		t.counters.ServersRefused++
		return Publication{}, false
	}
	at, inUsers := t.users.index[string(user)]
	inServer := false
	if srv != nil {
		_, inServer = srv.users[string(user)]
	}
	if (!inUsers && t.users.live >= t.maxUsers) || (!inServer && t.pairs >= t.maxPairs) {
		t.counters.UsersRefused++
		return Publication{}, false
	}

	var key string // one copy of the id for both lists where it can be had
	if inUsers {
		key = t.users.entries[at].key
	} else {
		key = string(user)
		t.users.add(key)
		t.stale = true
	}
	if srv == nil {
		srv = &serverList{name: string(srvName), users: make(map[string]struct{})}
		t.servers = append(t.servers, srv)
		t.byName[srv.name] = srv
	}
	if !inServer {
		srv.users[key] = struct{}{}
		t.pairs++
	}
	return t.publication(true), true
}

// stop is the sessionStopTopic handler.
func (t *Tracker) stop(srvName, user []byte) Publication {
	if t.users.remove(user) {
		t.stale = true
	}
	srv := t.byName[string(srvName)]
	if srv != nil {
		if _, ok := srv.users[string(user)]; ok {
			delete(srv.users, string(user))
			t.pairs--
		}
	}
	return t.publication(srv != nil)
}

// publication renders what Butler publishes now.
func (t *Tracker) publication(withServers bool) Publication {
	t.out = t.out[:0]
	if withServers {
		for _, srv := range t.servers {
			t.out = append(t.out, ServerCount{Server: srv.name, ActiveUsers: len(srv.users)})
		}
	}
	if t.stale || t.usersJS == "" {
		t.json = append(t.json[:0], '[')
		for _, e := range t.users.entries {
			if e.live {
				t.json = append(append(t.json, e.quoted...), ',')
			}
		}
		if t.users.live > 0 {
			t.json = t.json[:len(t.json)-1]
		}
		t.json = append(t.json, ']')
		t.usersJS = string(t.json)
		t.stale = false
	}
	return Publication{Servers: t.out, ActiveUsers: t.users.live, UsersJSON: t.usersJS}
}

// orderedSet is a dict@1.4.0 used as a set: insertion order, O(1) add and
// remove. Removed entries leave a hole until holes outnumber live entries.
type orderedSet struct {
	index   map[string]int // key -> position in entries
	entries []entry
	live    int
}

type entry struct {
	key    string
	quoted string // key as JSON.stringify writes it
	live   bool
}

func (s *orderedSet) add(k string) {
	s.index[k] = len(s.entries)
	s.entries = append(s.entries, entry{key: k, quoted: string(AppendJSONString(nil, k)), live: true})
	s.live++
}

// remove removes k and tells whether it was there.
func (s *orderedSet) remove(k []byte) bool {
	i, ok := s.index[string(k)]
	if !ok {
		return false
	}
	delete(s.index, s.entries[i].key)
	s.entries[i] = entry{}
	s.live--
	if holes := len(s.entries) - s.live; holes > 64 && holes > s.live {
		s.compact()
	}
	return true
}

func (s *orderedSet) compact() {
	kept := s.entries[:0]
	for _, e := range s.entries {
		if e.live {
			s.index[e.key] = len(kept)
			kept = append(kept, e)
		}
	}
	clear(s.entries[len(kept):])
	s.entries = kept
}

// shortEscapes are the two-character escapes of JSON.stringify, by the
// byte they stand for.
var shortEscapes = [utf8.RuneSelf]byte{'"': '"', '\\': '\\', '\b': 'b', '\t': 't', '\n': 'n', '\f': 'f', '\r': 'r'}

// AppendJSONString appends s as JavaScript's JSON.stringify writes a string
// (ECMAScript QuoteJSONString): quotes; \" \\ \b \t \n \f \r; \u00xx (lower
// case) for the other control characters; everything else as is, including
// '<', '>', '&', DEL, U+2028 and U+2029, which Go's encoding/json escapes.
// Bytes that are not UTF-8 become U+FFFD, one per byte (the plugin's parser
// refuses such datagrams, so Butler's decoding of them does not matter).
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = utf8.AppendRune(dst, utf8.RuneError)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		if short := shortEscapes[c]; short != 0 {
			dst = append(dst, '\\', short)
		} else {
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendLossyUTF8 appends b decoded as Node.js's Buffer.toString('utf8')
// decodes it (the WHATWG UTF-8 decoder): each maximal invalid subsequence
// becomes one U+FFFD. Butler read every datagram that way, so a name sent in
// the Windows ANSI code page reached its consumers with U+FFFD in place of
// each non-ASCII letter.
func AppendLossyUTF8(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		need := 0
		switch {
		case 0xC2 <= c && c <= 0xDF:
			need = 1
		case 0xE0 <= c && c <= 0xEF:
			need = 2
		case 0xF0 <= c && c <= 0xF4:
			need = 3
		default:
			dst = utf8.AppendRune(dst, utf8.RuneError)
			i++
			continue
		}
		// The second byte's range: narrower after these leads, which would
		// start an overlong form, a surrogate or a code point past U+10FFFF.
		lower, upper := byte(0x80), byte(0xBF)
		switch c {
		case 0xE0:
			lower = 0xA0
		case 0xED:
			upper = 0x9F
		case 0xF0:
			lower = 0x90
		case 0xF4:
			upper = 0x8F
		}
		j := i + 1
		for seen := 0; seen < need; seen++ {
			if j >= len(b) || b[j] < lower || b[j] > upper {
				break
			}
			lower, upper = 0x80, 0xBF
			j++
		}
		if j-i == need+1 {
			dst = append(dst, b[i:j]...)
		} else {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
		i = j
	}
	return dst
}

package butler

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// step is one event and what Butler 6.1.1 publishes after it, worked out by
// hand from src/mqtt/mqtt_handlers.js (see the package comment).
type step struct {
	server, command, directory, user string
	// nil: nothing published. Otherwise the per-server messages "S=n" in
	// order, then the count and the usernames.
	servers []string
	count   int
	users   string
	none    bool
}

func run(t *testing.T, tr *Tracker, steps []step) {
	t.Helper()
	for i, s := range steps {
		pub, ok := tr.Apply(s.server, event.ParseCommand(s.command), s.directory, s.user)
		name := fmt.Sprintf("step %d: %s %s: %s/%s", i+1, s.command, s.server, s.directory, s.user)
		if s.none {
			require.False(t, ok, name)
			continue
		}
		require.True(t, ok, name)
		var servers []string // nil when there are no per-server messages, as the steps write it
		for _, sc := range pub.Servers {
			servers = append(servers, fmt.Sprintf("%s=%d", sc.Server, sc.ActiveUsers))
		}
		require.Equal(t, s.servers, servers, name)
		require.Equal(t, s.count, pub.ActiveUsers, name)
		require.Equal(t, s.users, pub.UsersJSON, name)
	}
}

func TestButlerStory(t *testing.T) {
	run(t, New(100, 10), []step{
		{server: "SENSE1", command: "Start session", directory: "LAB", user: "anna",
			servers: []string{"SENSE1=1"}, count: 1, users: `["anna"]`},
		// Every start and open publishes, changed or not.
		{server: "SENSE1", command: "Open connection", directory: "LAB", user: "anna",
			servers: []string{"SENSE1=1"}, count: 1, users: `["anna"]`},
		{server: "SENSE2", command: "Start session", directory: "LAB", user: "maria",
			servers: []string{"SENSE1=1", "SENSE2=1"}, count: 2, users: `["anna","maria"]`},
		// The directory is dropped: CORP\anna is anna, and keeps her place.
		{server: "SENSE2", command: "Start session", directory: "CORP", user: "anna",
			servers: []string{"SENSE1=1", "SENSE2=2"}, count: 2, users: `["anna","maria"]`},
		// CORP\anna's stop removes anna, though LAB\anna is still on SENSE1.
		{server: "SENSE2", command: "Stop session", directory: "CORP", user: "anna",
			servers: []string{"SENSE1=1", "SENSE2=1"}, count: 1, users: `["maria"]`},
		// Added again: at the end of the list.
		{server: "SENSE1", command: "Start session", directory: "LAB", user: "anna",
			servers: []string{"SENSE1=1", "SENSE2=1"}, count: 2, users: `["maria","anna"]`},
		{server: "SENSE1", command: "Close connection", directory: "LAB", user: "anna", none: true},
		// A stop through a server Butler never saw: no per-server messages;
		// maria stays on SENSE2's list for good.
		{server: "SENSE3", command: "Stop session", directory: "LAB", user: "maria",
			count: 1, users: `["anna"]`},
		// Ids are case-sensitive: Maria is another user.
		{server: "SENSE3", command: "Start session", directory: "LAB", user: "Maria",
			servers: []string{"SENSE1=1", "SENSE2=1", "SENSE3=1"}, count: 2, users: `["anna","Maria"]`},
		{server: "SENSE1", command: "Stop session", directory: "lab", user: "ANNA",
			servers: []string{"SENSE1=1", "SENSE2=1", "SENSE3=1"}, count: 2, users: `["anna","Maria"]`},
		// A user's first stop ends them, whatever sessions remain.
		{server: "SENSE1", command: "Start session", directory: "LAB", user: "anna",
			servers: []string{"SENSE1=1", "SENSE2=1", "SENSE3=1"}, count: 2, users: `["anna","Maria"]`},
		{server: "SENSE1", command: "Stop session", directory: "LAB", user: "anna",
			servers: []string{"SENSE1=0", "SENSE2=1", "SENSE3=1"}, count: 1, users: `["Maria"]`},
		// Servers are never forgotten; stops of unknown users still publish.
		{server: "SENSE3", command: "Stop session", directory: "LAB", user: "Maria",
			servers: []string{"SENSE1=0", "SENSE2=1", "SENSE3=0"}, count: 0, users: `[]`},
		{server: "SENSE3", command: "Stop session", directory: "LAB", user: "nobody",
			servers: []string{"SENSE1=0", "SENSE2=1", "SENSE3=0"}, count: 0, users: `[]`},
	})
}

// TestButlerSplitting: Butler reads the user back from "<server>:
// <directory>/<userid>" with split(': ') and split('/').
func TestButlerSplitting(t *testing.T) {
	tr := New(100, 10)
	run(t, tr, []step{
		// A "/" in the user id cuts it.
		{server: "S", command: "Start session", directory: "LAB", user: "a/b",
			servers: []string{"S=1"}, count: 1, users: `["a"]`},
		// A "/" in the directory: the user is the directory's second part.
		{server: "S", command: "Start session", directory: "D/E", user: "u",
			servers: []string{"S=2"}, count: 2, users: `["a","E"]`},
		// ": " in the user id ends the piece the user comes from.
		{server: "S", command: "Start session", directory: "LAB", user: "x: y",
			servers: []string{"S=3"}, count: 3, users: `["a","E","x"]`},
		// ": " in the server: the server is its first part, and the user
		// comes from the server's second part, which has no "/": Butler's
		// handler throws (dict's "key must be a string") before publishing.
		{server: "A: B", command: "Start session", directory: "LAB", user: "u", none: true},
		{server: "A: B", command: "Stop session", directory: "LAB", user: "u", none: true},
		// ...unless that part has one.
		{server: "A: B/c", command: "Open connection", directory: "LAB", user: "u",
			servers: []string{"S=3", "A=1"}, count: 4, users: `["a","E","x","c"]`},
		// Stops read the user the same way.
		{server: "S", command: "Stop session", directory: "LAB", user: "x",
			servers: []string{"S=2", "A=1"}, count: 3, users: `["a","E","c"]`},
	})
	require.Equal(t, Counters{Unreadable: 2}, tr.Counters())
}

func TestButlerJSON(t *testing.T) {
	for in, want := range map[string]string{
		`anna`:             `"anna"`,
		`jörg`:             `"jörg"`,
		`q"u\o`:            `"q\"u\\o"`,
		"tab\tnl\ncr\r":    `"tab\tnl\ncr\r"`,
		"bs\bff\f":         `"bs\bff\f"`,
		"\x00\x01\x1f\x7f": `"\u0000\u0001\u001f` + "\x7f\"",
		"<a&b>":            `"<a&b>"`,
		"\u2028\u2029":     "\"\u2028\u2029\"",
		"😀":                `"😀"`,
		"bad\xffbyte":      "\"bad\ufffdbyte\"",
		"":                 `""`,
	} {
		require.Equal(t, want, string(AppendJSONString(nil, in)), "%q", in)
	}
	tr := New(10, 10)
	pub, ok := tr.Apply("S", event.StartSession, "LAB", `a"b`)
	require.True(t, ok)
	require.Equal(t, `["a\"b"]`, pub.UsersJSON)
	var back []string
	require.NoError(t, json.Unmarshal([]byte(pub.UsersJSON), &back))
	require.Equal(t, []string{`a"b`}, back)
}

func TestButlerLimits(t *testing.T) {
	tr := New(2, 2)
	run(t, tr, []step{
		{server: "S1", command: "Start session", directory: "D", user: "a", servers: []string{"S1=1"}, count: 1, users: `["a"]`},
		{server: "S1", command: "Start session", directory: "D", user: "b", servers: []string{"S1=2"}, count: 2, users: `["a","b"]`},
		// A third user: refused, nothing published.
		{server: "S1", command: "Start session", directory: "D", user: "c", none: true},
		// Known users still count, on a new server too.
		{server: "S2", command: "Open connection", directory: "D", user: "a", servers: []string{"S1=2", "S2=1"}, count: 2, users: `["a","b"]`},
		// A third server: refused.
		{server: "S3", command: "Start session", directory: "D", user: "a", none: true},
		// Stops always go through and make room.
		{server: "S1", command: "Stop session", directory: "D", user: "b", servers: []string{"S1=1", "S2=1"}, count: 1, users: `["a"]`},
		{server: "S1", command: "Start session", directory: "D", user: "c", servers: []string{"S1=2", "S2=1"}, count: 2, users: `["a","c"]`},
	})
	require.Equal(t, Counters{UsersRefused: 1, ServersRefused: 1}, tr.Counters())
	require.Equal(t, 2, tr.Users())
	require.Equal(t, 2, tr.Servers())

	// The per-server lists are bounded together: stale entries (users whose
	// stop came through another server) count against PairsPerUser*maxUsers.
	tr = New(1, 100)
	for i := 0; i < PairsPerUser; i++ {
		_, ok := tr.Apply(fmt.Sprintf("S%d", i), event.StartSession, "D", "u")
		require.True(t, ok)
	}
	_, ok := tr.Apply("S1", event.StopSession, "D", "u")
	require.True(t, ok)
	// u left S1 only; S0, S2, S3 keep it: 3 pairs, 0 users.
	_, ok = tr.Apply("S1", event.StartSession, "D", "v")
	require.True(t, ok, "4th pair")
	_, ok = tr.Apply("S1", event.StopSession, "D", "v")
	require.True(t, ok)
	_, ok = tr.Apply("S1", event.StartSession, "D", "v")
	require.True(t, ok, "back to 4 pairs")
	_, ok = tr.Apply("S0", event.StartSession, "D", "v")
	require.False(t, ok, "a 5th pair")
	require.Equal(t, uint64(1), tr.Counters().UsersRefused)
}

// model is a second, naive rendering of Butler's handlers: a list with
// linear search for currentUsers, maps for the servers.
type model struct {
	users   []string
	servers []string
	per     map[string]map[string]bool
}

func (m *model) apply(server string, cmd event.Command, directory, userID string) (Publication, bool) {
	parts := strings.Split(server+": "+directory+"/"+userID, ": ")
	srv := parts[0]
	p2 := strings.Split(parts[1], "/")
	if cmd != event.StartSession && cmd != event.OpenConnection && cmd != event.StopSession {
		return Publication{}, false
	}
	if len(p2) < 2 {
		return Publication{}, false
	}
	user := p2[1]
	pub := Publication{}
	withServers := true
	if cmd == event.StopSession {
		if i := slices.Index(m.users, user); i >= 0 {
			m.users = slices.Delete(m.users, i, i+1)
		}
		if list, ok := m.per[srv]; ok {
			delete(list, user)
		} else {
			withServers = false
		}
	} else {
		if !slices.Contains(m.users, user) {
			m.users = append(m.users, user)
		}
		if m.per[srv] == nil {
			m.per[srv] = map[string]bool{}
			m.servers = append(m.servers, srv)
		}
		m.per[srv][user] = true
	}
	if withServers {
		for _, s := range m.servers {
			pub.Servers = append(pub.Servers, ServerCount{s, len(m.per[s])})
		}
	}
	pub.ActiveUsers = len(m.users)
	js, err := json.Marshal(append(make([]string, 0, len(m.users)), m.users...)) // [], not null, for no users
	if err != nil {
		panic(err) // a []string always marshals
	}
	pub.UsersJSON = string(js)
	return pub, true
}

// TestButlerRandom runs random traffic through the Tracker and the naive
// model, with enough churn to compact the list many times.
func TestButlerRandom(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		tr := New(1000, 100)
		m := &model{per: map[string]map[string]bool{}}
		cmds := []event.Command{event.StartSession, event.StopSession, event.OpenConnection, event.CloseConnection, event.StopSession}
		for i := 0; i < 5000; i++ {
			server := fmt.Sprintf("SENSE%d", rng.IntN(4))
			dir := []string{"LAB", "lab", "CORP"}[rng.IntN(3)]
			user := fmt.Sprintf("user%d", rng.IntN(150))
			cmd := cmds[rng.IntN(len(cmds))]
			got, gotOK := tr.Apply(server, cmd, dir, user)
			want, wantOK := m.apply(server, cmd, dir, user)
			require.Equal(t, wantOK, gotOK, "seed %d event %d", seed, i)
			if !wantOK {
				continue
			}
			if len(want.Servers) == 0 {
				want.Servers = nil
			}
			if len(got.Servers) == 0 {
				got.Servers = nil
			}
			require.Equal(t, want, got, "seed %d event %d", seed, i)
		}
	}
}

func BenchmarkButlerApply(b *testing.B) {
	tr := New(100000, 100)
	users := make([]string, 2000)
	for i := range users {
		users[i] = fmt.Sprintf("user%04d", i)
		tr.Apply("SENSE1", event.StartSession, "LAB", users[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := users[i%len(users)]
		tr.Apply("SENSE1", event.StopSession, "LAB", u)
		tr.Apply("SENSE1", event.StartSession, "LAB", u)
	}
}

func TestLossyUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"plain":             "plain",
		"jörg":              "jörg",
		"j\xf6rg":           "j\ufffdrg",          // Windows-1252 ö: not a lead byte
		"ren\xe9e":          "ren\ufffde",         // é: a lead byte cut short
		"\xe2\x82x":         "\ufffdx",            // a maximal subpart is one U+FFFD
		"\xe2\x82\xac":      "€",                  //
		"\xf0\x9f\x98\x80!": "😀!",                 //
		"\xf0\x9f\x98":      "\ufffd",             // cut at the end
		"\xed\xa0\x80":      "\ufffd\ufffd\ufffd", // a surrogate: ED A0 is no subpart
		"\xe0\x80\x80":      "\ufffd\ufffd\ufffd", // overlong
		"\xc0\xaf":          "\ufffd\ufffd",
		"\xf4\x90\x80\x80":  "\ufffd\ufffd\ufffd\ufffd", // above U+10FFFF
		"\x80\xbf":          "\ufffd\ufffd",
	} {
		require.Equal(t, want, string(AppendLossyUTF8(nil, []byte(in))), "%q", in)
	}
}

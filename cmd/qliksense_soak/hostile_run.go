package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// hostileRun is -hostile: the hostile datagrams mixed into the traffic,
// the bursts past max_apps and max_users before and after it, and the API
// flood during it; and what the plugin must have counted of them.
type hostileRun struct {
	lim   hostileLimits
	gen   *hostile
	api   *fakeAPI
	share float64
	rng   *rand.Rand
	round int
	// what the bursts must have been refused, and what they found
	refusedUsers, refusedApps int64
	notes                     []string
}

// The bursts go this far past the room they find.
const (
	crowdPast = 2000
	appsPast  = 500
)

func newHostileRun(o options) (*hostileRun, error) {
	api, err := startFakeAPI()
	if err != nil {
		return nil, err
	}
	lim := hostileLimits{
		maxDatagram: 8192,
		// room for the simulation's users (with head-room: reordered and
		// pre-existing sessions), the API's and the hostile ones that stay
		maxUsers:        o.users*6/5 + apiUsers + idFloodUsers + 100,
		maxUserSessions: 100,
		maxApps:         1000,
	}
	return &hostileRun{lim: lim, gen: newHostile(lim, o.seed), api: api, share: o.hostileShare,
		rng: rand.New(rand.NewPCG(o.seed, 0x3173))}, nil //nolint:gosec // G404: reproducible traffic, not a secret
}

// config is what the plugin's configuration adds.
func (h *hostileRun) config() string {
	return fmt.Sprintf(`  event_message = true
  max_datagram_size = "%dB"
  max_users = %d
  max_user_sessions = %d
  max_apps = %d
  exclude_users = ['%s\excluded*']
%s`, h.lim.maxDatagram, h.lim.maxUsers, h.lim.maxUserSessions, h.lim.maxApps, hostileDirectory, h.api.config())
}

func (h *hostileRun) describe() string {
	return fmt.Sprintf("hostile: %.0f%% of the traffic's datagrams (%s), max_datagram_size %d, max_users %d, max_user_sessions %d, max_apps %d;"+
		" bursts of users and apps past the limits before and after the traffic; the session API (server %s) answers %d sessions, null,"+
		" control characters, {} and a cut array in turn, polled every second\n",
		h.share*100, strings.Join(kindNames[:kindAppPassing+1], ", "), h.lim.maxDatagram, h.lim.maxUsers, h.lim.maxUserSessions, h.lim.maxApps,
		apiServer, apiSessions)
}

func (h *hostileRun) pending() bool { return h.gen.pending() }
func (h *hostileRun) next() []byte  { return h.gen.next() }
func (h *hostileRun) closeAll()     { h.gen.closeAll() }

// mixNow tells whether a hostile datagram goes out instead of the
// simulation's next, and queues it.
func (h *hostileRun) mixNow() bool {
	if h.rng.Float64() >= h.share {
		return false
	}
	h.gen.mix()
	return true
}

// bursts sends, between two events of the simulation, connections to more
// apps than max_apps leaves room for, then more new users than max_users
// does: the room is read from the plugin's gauges once it has taken all
// that was sent.
func (h *hostileRun) bursts(r *runner, when string) error {
	before := r.phase.Load()
	r.phase.Store(phaseBurst)
	defer r.phase.Store(before)
	drain := func(time.Time) ([]byte, bool) {
		if !h.gen.pending() {
			return nil, false
		}
		return h.gen.next(), true
	}
	h.round++
	type step struct {
		gauge         string // what takes room
		limit, past   int
		queue         func(round, n int)
		refused       *int64
		tracked, came int
	}
	steps := []*step{
		{gauge: "tracked_apps", limit: h.lim.maxApps, past: appsPast, queue: h.gen.appBurst, refused: &h.refusedApps},
		{gauge: "tracked_users", limit: h.lim.maxUsers, past: crowdPast, queue: h.gen.crowdBurst, refused: &h.refusedUsers},
	}
	for _, st := range steps {
		internal, err := r.processed()
		if err != nil {
			return err
		}
		st.tracked = int(internal[st.gauge])
		st.came = st.limit - st.tracked + st.past
		st.queue(h.round, st.came)
		*st.refused += int64(st.past)
		if _, _, err := r.send(drain); err != nil {
			return err
		}
	}
	apps, users := steps[0], steps[1]
	h.notes = append(h.notes, fmt.Sprintf("%s: %d apps and %d users tracked; %d apps and %d users came, %d and %d past the limits",
		when, apps.tracked, users.tracked, apps.came, users.came, apps.past, users.past))
	_, err := r.processed()
	return err
}

// accountRow is one counter of qliksense_sessions_internal against what
// the datagrams sent must have made of it.
type accountRow struct {
	counter, what string
	want          int64
	informational bool
}

// account checks that every datagram sent is where the plugin counts it.
func (h *hostileRun) account(internal map[string]int64, simSent, sent int64, foreign int) (bool, string) {
	accepted, malformed := simSent, h.gen.sent[kindMalformed]
	for k := range kinds {
		if k.accepted() {
			accepted += h.gen.sent[k]
		}
	}
	rows := []accountRow{
		{"datagrams_received", "every datagram sent, less the kernel's drops", sent - internal["datagrams_dropped"], false},
		{"datagrams_dropped", "none (else no count can be exact)", 0, false},
		{"rejected_source", "none (no allowed_sources)", 0, false},
		{"oversize", kindNames[kindOversize], h.gen.sent[kindOversize], false},
		{"malformed", kindNames[kindMalformed], malformed, false},
		{"events_ignored", kindNames[kindUnknownCommand], h.gen.sent[kindUnknownCommand], false},
		{"events_excluded", kindNames[kindExcluded], h.gen.sent[kindExcluded], false},
		{"events_accepted", "the simulation's and the hostile events the state takes or refuses", accepted, false},
		{"events_refused_session_id_length", kindNames[kindLongID], h.gen.sent[kindLongID], false},
		{"events_refused_max_user_sessions", fmt.Sprintf("the ids past %d of each of the %d users", h.lim.maxUserSessions, idFloodUsers),
			h.gen.refusedMaxUserSessions(), false},
		{"events_refused_max_users", "the bursts' users past the room", h.refusedUsers, false},
		{"connections_refused_max_apps", "the bursts' apps past the room", h.refusedApps, false},
		{"events_refused_max_servers", "none", 0, false},
		{"metrics_dropped_output_blocked", "none (the soak reads stdout)", 0, false},
		{"proxy_polls", "the session API's answers", 0, true},
		{"proxy_poll_errors", "null, {} and the cut array", 0, true},
		{"reconcile_sessions_added", "from the API", 0, true},
		{"reconcile_sessions_removed", "by the API", 0, true},
		{"api_sessions_refused_max_users", "", 0, true},
	}
	ok := true
	var b strings.Builder
	b.WriteString("\n| datagrams of the kind | sent |\n|---|---:|\n")
	fmt.Fprintf(&b, "| the simulation's | %d |\n", simSent)
	for k := range kinds {
		fmt.Fprintf(&b, "| %s | %d |\n", kindNames[k], h.gen.sent[k])
	}
	fmt.Fprintf(&b, "| all | %d |\n\n", sent)
	b.WriteString("| qliksense_sessions_internal | what it must count | expected | counted | |\n|---|---|---:|---:|---|\n")
	// received = the fates of a datagram, each counted once.
	fates := internal["events_accepted"] + internal["events_ignored"] + internal["events_excluded"] + internal["malformed"] +
		internal["oversize"] + internal["rejected_source"] + internal["udp_events_superseded"]
	for _, row := range rows {
		got, present := internal[row.counter]
		mark := ""
		switch {
		case row.informational:
			fmt.Fprintf(&b, "| `%s` | %s | – | %d | |\n", row.counter, row.what, got)
			continue
		case !present && row.want != 0:
			mark, ok = "FAIL: absent", false
		case got != row.want:
			mark, ok = "FAIL", false
		}
		fmt.Fprintf(&b, "| `%s` | %s | %d | %d | %s |\n", row.counter, row.what, row.want, got, mark)
	}
	b.WriteString("\n")
	for _, n := range h.notes {
		b.WriteString("bursts " + n + "\n")
	}
	sumOK := fates == internal["datagrams_received"]
	fmt.Fprintf(&b, "%s accounting: %d sent = %d received + %d dropped by the kernel;"+
		" received = accepted + ignored + excluded + malformed + oversize + rejected + superseded = %d\n",
		verdict(sumOK && ok), sent, internal["datagrams_received"], internal["datagrams_dropped"], fates)
	outputOK := foreign == 0
	fmt.Fprintf(&b, "%s output: %d lines of the plugin's stdout were no metric of its own (a line split by a control character, or forged)\n",
		verdict(outputOK), foreign)
	return ok && sumOK && outputOK, b.String()
}

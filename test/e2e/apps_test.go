//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

// bursts sends a simulation's traffic in bursts and knows, after each, what
// the plugin must show: a burst ends where the simulation is settled (every
// event it decided has gone out), so its Expected is exact there.
type bursts struct {
	sim  *replay.Simulation
	conn net.Conn
	rate float64
	sent int
	buf  []byte
}

func newBursts(t *testing.T, udpPort int, cfg replay.SimConfig, rate float64) *bursts {
	t.Helper()
	sim, err := replay.NewSimulation(cfg)
	require.NoError(t, err)
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &bursts{sim: sim, conn: conn, rate: rate}
}

// next sends at least n more events, up to the next settled point, and
// returns the expectation there; false once the simulation has no more
// to send.
func (b *bursts) next(t *testing.T, n int) (replay.Expected, bool) {
	t.Helper()
	first, stopAt := b.sent, b.sent+n
	res, err := replay.Send(context.Background(), b.conn, func(time.Time) ([]byte, bool) {
		if b.sent >= stopAt && b.sim.Settled() {
			return nil, false
		}
		ev, ok := b.sim.Next()
		if !ok {
			return nil, false
		}
		b.sent++
		var err error
		b.buf, err = replay.AppendPayload(b.buf[:0], "sos", &ev, time.Time{})
		require.NoError(t, err)
		return b.buf, true
	}, b.rate, false)
	require.NoError(t, err)
	require.Zero(t, res.Refused, "the plugin listens before the first burst")
	return b.sim.Expected(), b.sent > first
}

// summaryGroup is one summary: the site's, and the servers' and apps' that
// share its time.
type summaryGroup struct {
	at      time.Time
	trigger string
	site    replay.ServerExpected
	servers map[string]replay.ServerExpected
	apps    map[string]appSummary
	twice   []string // servers or apps summarised more than once
}

// appSummary is one qliksense_users_app metric.
type appSummary struct {
	replay.AppExpected
	name      string // the app_name tag
	truncated bool
}

// summaryGroups returns the summaries in metrics, in order.
func summaryGroups(t *testing.T, metrics []telegraf.Metric) []*summaryGroup {
	t.Helper()
	byTime := map[int64]*summaryGroup{}
	var groups []*summaryGroup
	group := func(m telegraf.Metric) *summaryGroup {
		g := byTime[m.Time().UnixNano()]
		if g == nil {
			g = &summaryGroup{at: m.Time(), servers: map[string]replay.ServerExpected{}, apps: map[string]appSummary{}}
			byTime[m.Time().UnixNano()] = g
			groups = append(groups, g)
		}
		if trigger, _ := m.GetTag("trigger"); g.trigger == "" {
			g.trigger = trigger
		} else {
			require.Equal(t, g.trigger, trigger, "one summary, one trigger: %v", m)
		}
		return g
	}
	for _, m := range metrics {
		switch m.Name() {
		case "qliksense_users":
			group(m).site = summaryOf(t, m)
		case "qliksense_users_server":
			s := summaryOf(t, m)
			s.Server = m.Tags()["server"]
			g := group(m)
			if _, ok := g.servers[s.Server]; ok {
				g.twice = append(g.twice, "server "+s.Server)
			}
			g.servers[s.Server] = s
		case "qliksense_users_app":
			a := appSummaryOf(t, m)
			g := group(m)
			if _, ok := g.apps[a.App]; ok {
				g.twice = append(g.twice, "app "+a.App)
			}
			g.apps[a.App] = a
		}
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].at.Before(groups[j].at) })
	return groups
}

func appSummaryOf(t *testing.T, m telegraf.Metric) appSummary {
	t.Helper()
	a := appSummary{AppExpected: replay.AppExpected{App: m.Tags()["app_id"]}, name: m.Tags()["app_name"]}
	users, ok := m.GetField("users")
	require.True(t, ok, "no users field: %v", m)
	require.NoError(t, json.Unmarshal([]byte(users.(string)), &a.Users), "users field is not a JSON array: %v", users)
	activeUsers, _ := m.GetField("active_users")
	connections, _ := m.GetField("active_connections")
	a.ActiveUsers = int(activeUsers.(int64))
	a.ActiveConnections = int(connections.(int64))
	truncated, _ := m.GetField("users_truncated")
	a.truncated, _ = truncated.(bool)
	return a
}

// consistent checks what must hold of every summary, whatever the traffic:
// counts and lists agree, a user with connections has at least one.
func (g *summaryGroup) consistent() error {
	if len(g.twice) > 0 {
		return fmt.Errorf("one summary holds %s more than once", strings.Join(g.twice, ", "))
	}
	if g.site.ActiveUsers != len(g.site.Users) {
		return fmt.Errorf("site: %d active users, %d listed", g.site.ActiveUsers, len(g.site.Users))
	}
	for name, s := range g.servers {
		if s.ActiveUsers != len(s.Users) || s.ActiveSessions < s.ActiveUsers {
			return fmt.Errorf("server %s: %d users, %d listed, %d sessions", name, s.ActiveUsers, len(s.Users), s.ActiveSessions)
		}
	}
	for id, a := range g.apps {
		if a.ActiveUsers != len(a.Users) && !a.truncated || a.ActiveConnections < a.ActiveUsers || a.ActiveUsers > g.site.ActiveUsers {
			return fmt.Errorf("app %s: %d users, %d listed, %d connections, %d users on the site",
				id, a.ActiveUsers, len(a.Users), a.ActiveConnections, g.site.ActiveUsers)
		}
		for _, u := range a.Users {
			if !slices.Contains(g.site.Users, u) {
				return fmt.Errorf("app %s lists %s, who is not active", id, u)
			}
		}
	}
	return nil
}

// matches tells whether the summary is exactly the expectation: the site,
// every server and every app, and zero for any other server or app (a final
// zero).
func (g *summaryGroup) matches(want replay.Expected) error {
	if err := g.consistent(); err != nil {
		return err
	}
	if g.site.ActiveUsers != want.ActiveUsers || g.site.ActiveSessions != want.ActiveSessions || !equalStrings(g.site.Users, want.Users) {
		return fmt.Errorf("site: %d users / %d sessions, want %d / %d", g.site.ActiveUsers, g.site.ActiveSessions, want.ActiveUsers, want.ActiveSessions)
	}
	servers := map[string]bool{}
	for _, s := range want.Servers {
		servers[s.Server] = true
		got, ok := g.servers[s.Server]
		if !ok || got.ActiveUsers != s.ActiveUsers || got.ActiveSessions != s.ActiveSessions || !equalStrings(got.Users, s.Users) {
			return fmt.Errorf("server %s: %+v, want %+v", s.Server, got, s)
		}
	}
	for name, got := range g.servers {
		if !servers[name] && (got.ActiveUsers != 0 || got.ActiveSessions != 0 || len(got.Users) != 0) {
			return fmt.Errorf("server %s: %+v, want none", name, got)
		}
	}
	apps := map[string]bool{}
	for _, a := range want.Apps {
		apps[a.App] = true
		got, ok := g.apps[a.App]
		if !ok || got.ActiveUsers != a.ActiveUsers || got.ActiveConnections != a.ActiveConnections || !equalStrings(got.Users, a.Users) {
			return fmt.Errorf("app %s: %+v, want %+v", a.App, got.AppExpected, a)
		}
	}
	for id, got := range g.apps {
		if !apps[id] && !got.isZero() {
			return fmt.Errorf("app %s: %+v, want none", id, got.AppExpected)
		}
	}
	return nil
}

// consumerViews are what a consumer that keeps each series' last value
// (and drops it at its final zero) sees after each summary: the site of
// that summary, and every server and app in use, whichever summary said it
// last. With onChange, the consumer takes only the change summaries and the
// final zeros of gathers (as the MQTT example does). A change summary holds
// only what changed; a gather's, everything.
func consumerViews(groups []*summaryGroup, onChange bool) []*summaryGroup {
	views := make([]*summaryGroup, 0, len(groups))
	view := &summaryGroup{servers: map[string]replay.ServerExpected{}, apps: map[string]appSummary{}}
	for _, g := range groups {
		next := &summaryGroup{at: g.at, trigger: g.trigger, site: g.site, twice: g.twice,
			servers: maps.Clone(view.servers), apps: maps.Clone(view.apps)}
		if onChange && g.trigger != "change" {
			next.site = view.site
		}
		for name, s := range g.servers {
			switch {
			case s.ActiveUsers == 0 && s.ActiveSessions == 0 && len(s.Users) == 0:
				delete(next.servers, name)
			case !onChange || g.trigger == "change":
				next.servers[name] = s
			}
		}
		for id, a := range g.apps {
			switch {
			case a.isZero():
				delete(next.apps, id)
			case !onChange || g.trigger == "change":
				next.apps[id] = a
			}
		}
		views = append(views, next)
		view = next
	}
	return views
}

// onlyChanges tells whether a change summary holds only servers and apps
// that differ from the view before it or the change summaries' view before
// it (or final zeros), and a gather's summary every one in use.
func (g *summaryGroup) onlyChanges(before, beforeOnChange *summaryGroup) error {
	if g.trigger != "change" {
		for name := range before.servers {
			if _, ok := g.servers[name]; !ok {
				return fmt.Errorf("the gather's summary leaves out server %s", name)
			}
		}
		for id := range before.apps {
			if _, ok := g.apps[id]; !ok {
				return fmt.Errorf("the gather's summary leaves out app %s", id)
			}
		}
		return nil
	}
	sameServer := func(views []*summaryGroup, name string, s replay.ServerExpected) bool {
		for _, v := range views {
			last, ok := v.servers[name]
			if !ok || last.ActiveUsers != s.ActiveUsers || last.ActiveSessions != s.ActiveSessions || !equalStrings(last.Users, s.Users) {
				return false
			}
		}
		return true
	}
	sameApp := func(views []*summaryGroup, id string, a appSummary) bool {
		for _, v := range views {
			last, ok := v.apps[id]
			if !ok || last.ActiveUsers != a.ActiveUsers || last.ActiveConnections != a.ActiveConnections ||
				!equalStrings(last.Users, a.Users) || a.truncated {
				return false
			}
		}
		return true
	}
	views := []*summaryGroup{before, beforeOnChange}
	for name, s := range g.servers {
		if sameServer(views, name, s) {
			return fmt.Errorf("server %s did not change: %+v", name, s)
		}
	}
	for id, a := range g.apps {
		if sameApp(views, id, a) {
			return fmt.Errorf("app %s did not change: %+v", id, a.AppExpected)
		}
	}
	return nil
}

func (a appSummary) isZero() bool {
	return a.ActiveUsers == 0 && a.ActiveConnections == 0 && a.Users != nil && len(a.Users) == 0 && !a.truncated
}

// TestAppsAtEveryCheckpoint is issue 13's done-criterion: on replayed
// traffic with apps, sent in bursts through the real Telegraf, what a
// consumer keeping each series' last value sees after the change summary
// after each burst equals the model's expectation: the site, each server,
// and each app's active users, connections and users list; after every
// summary until the next burst too, and every gather's summary holds it
// all; every summary is consistent; a change summary holds only the servers
// and apps that changed (issue 22), and some change summaries leave some
// out; and an app whose last user left got its final zero. With events on
// and off: without events the plugin does not copy the datagrams it parses.
func TestAppsAtEveryCheckpoint(t *testing.T) {
	for _, events := range []bool{true, false} {
		t.Run(fmt.Sprintf("emit_events=%v", events), func(t *testing.T) {
			appsAtEveryCheckpoint(t, events)
		})
	}
}

func appsAtEveryCheckpoint(t *testing.T, emitEvents bool) {
	bin := binDir(t)
	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, fmt.Sprintf("  emit_events = %v", emitEvents))
	outFile := filepath.Join(dir, "metrics.out")
	telegrafConf := fileTelegraf{interval: "2s", flushInterval: "100ms", batchSize: defaultBatchSize, bufferLimit: defaultBufferLimit,
		poll: "3s", restartDelay: defaultRestartDelay, file: outFile,
		output: `  namepass = ["qliksense_users*", "qliksense_sessions_internal"]` + "\n"}.write(t, filepath.Join(dir, "telegraf.conf"), bin, pluginConf)
	tg := startTelegraf(t, bin, telegrafConf)

	started := time.Now()
	b := newBursts(t, udpPort, replay.SimConfig{Users: 30, Directories: 2, Servers: 3, Events: 4000, Seed: 13, Format: "sos",
		Race: 0.05, Preexisting: 8}, 5000)
	var (
		checkpoints  []replay.Expected
		matchedAt    []time.Time
		burstStarted []time.Time
		vanished     int
		appsSeen     = map[string]bool{}
	)
	for {
		burstStarted = append(burstStarted, time.Now())
		want, more := b.next(t, 400)
		if !more {
			break
		}
		k := len(checkpoints)
		// The change summary after the burst: the last summary the plugin
		// made on a change.
		var last *summaryGroup
		var why error
		ok := waitFor(30*time.Second, func() bool {
			last, why = nil, nil
			for _, g := range consumerViews(summaryGroups(t, readMetrics(t, outFile)), false) {
				if g.trigger == "change" && g.at.After(burstStarted[k]) {
					last = g
				}
			}
			if last == nil {
				why = errors.New("no change summary since the burst")
				return false
			}
			why = last.matches(want)
			return why == nil
		})
		if !ok {
			logSummaries(t, summaryGroups(t, readMetrics(t, outFile)), 3)
		}
		require.True(t, ok, "checkpoint %d (%d events): the change summary never matched the model: %v", k+1, want.EventsSent, why)
		checkpoints = append(checkpoints, want)
		matchedAt = append(matchedAt, last.at)
		for _, a := range want.Apps {
			appsSeen[a.App] = true
		}
	}
	require.GreaterOrEqual(t, len(checkpoints), 8)
	burstStarted = burstStarted[:len(checkpoints)+1]

	groups := summaryGroups(t, readMetrics(t, outFile))
	views, onChangeViews := consumerViews(groups, false), consumerViews(groups, true)
	changesLeftOut := 0
	for i, g := range groups {
		err := g.consistent()
		if err == nil {
			err = views[i].consistent()
		}
		if err == nil && i > 0 {
			err = g.onlyChanges(views[i-1], onChangeViews[i-1])
		}
		if err != nil {
			logSummaries(t, []*summaryGroup{g}, 1)
			t.Fatalf("summary of %s (%s): %v", g.at.Format(time.RFC3339Nano), g.trigger, err)
		}
		if g.trigger == "change" && i > 0 {
			for name := range views[i-1].servers {
				if _, ok := g.servers[name]; !ok {
					changesLeftOut++
				}
			}
			for id := range views[i-1].apps {
				if _, ok := g.apps[id]; !ok {
					changesLeftOut++
				}
			}
		}
	}
	require.NotZero(t, changesLeftOut, "no change summary left out an unchanged server or app")
	for k, want := range checkpoints {
		// Every summary from the match to the next burst, on a change or
		// a gather, shows the same to a consumer; a gather's summary
		// holds it all.
		for i, g := range groups {
			if !g.at.Before(matchedAt[k]) && g.at.Before(burstStarted[k+1]) {
				require.NoError(t, views[i].matches(want), "checkpoint %d: a later summary (%s) differs", k+1, g.trigger)
				if g.trigger == "change" {
					require.NoError(t, onChangeViews[i].matches(want), "checkpoint %d: a later change summary differs", k+1)
				} else {
					require.NoError(t, g.matches(want), "checkpoint %d: a gather's summary differs", k+1)
				}
			}
		}
		if k == 0 {
			continue
		}
		// An app whose last user left during the burst got a final zero.
		for _, a := range checkpoints[k-1].Apps {
			if slices.ContainsFunc(want.Apps, func(b replay.AppExpected) bool { return b.App == a.App }) {
				continue
			}
			vanished++
			zero := false
			for _, g := range groups {
				if g.at.After(matchedAt[k-1]) && !g.at.After(matchedAt[k]) {
					got, ok := g.apps[a.App]
					zero = zero || ok && got.isZero()
				}
			}
			require.True(t, zero, "checkpoint %d: app %s (%d users before) left without a final zero", k+1, a.App, a.ActiveUsers)
		}
	}
	require.NotZero(t, vanished, "the traffic must empty an app between two checkpoints")

	// Nothing lost or refused on the way.
	var intake map[string]interface{}
	require.Eventually(t, func() bool {
		intake = lastActiveSet(t, readMetrics(t, outFile)).intake
		return intake != nil && intake["datagrams_received"] == int64(b.sent)
	}, 30*time.Second, 100*time.Millisecond, "not every datagram was received")
	require.Equal(t, int64(b.sent), intake["events_accepted"])
	require.Equal(t, int64(0), intake["connections_refused_max_apps"])
	require.Equal(t, int64(len(checkpoints[len(checkpoints)-1].Apps)), intake["tracked_apps"])
	t.Logf("%d events in %d bursts, %d apps seen, %d emptied between checkpoints, %d summaries checked "+
		"(the change summaries left out %d unchanged lines), in %s",
		b.sent, len(checkpoints), len(appsSeen), vanished, len(groups), changesLeftOut, time.Since(started).Round(time.Millisecond))

	tg.stop(t)
	requireNoErrorLines(t, tg.log())
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logSummaries logs the last n summaries, for a failure.
func logSummaries(t *testing.T, groups []*summaryGroup, n int) {
	t.Helper()
	for _, g := range groups[max(0, len(groups)-n):] {
		t.Logf("summary %s (%s): site %d users / %d sessions", g.at.Format("15:04:05.000"), g.trigger, g.site.ActiveUsers, g.site.ActiveSessions)
		ids := make([]string, 0, len(g.apps))
		for id := range g.apps {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			a := g.apps[id]
			t.Logf("  app %s: %d users, %d connections, %v", id, a.ActiveUsers, a.ActiveConnections, a.Users)
		}
	}
}

// TestAppSummariesFollowConnections: a connection opened or closed to an app
// changes its counts, and a change summary shows it (coalesced, within
// summary_interval) without waiting for a gather; a second tab is a second
// connection of the same user; the app's last user leaving makes one final
// zero, after which the app is not summarised. Events off, so that the plugin parses
// the datagrams in place.
func TestAppSummariesFollowConnections(t *testing.T) {
	bin := binDir(t)
	port := freeUDPPort(t)
	p := startPlugin(t, bin, pluginConfig(t, t.TempDir(), port, "  emit_events = false"))
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer conn.Close()
	const app = "3f1d2c4a-1111-2222-3333-444455556666"
	send := func(command, user, sessionID string) {
		t.Helper()
		dir, id, _ := strings.Cut(user, `\`)
		marker, where, message := "/qseow-proxy-session/", "/hub/", command+" for user '"+user+"'"
		if strings.HasSuffix(command, "connection") {
			verb := map[string]string{"Open connection": "Opened", "Close connection": "Closed"}[command]
			marker, where, message = "/qseow-proxy-connection/", "/app/"+app+"?reloadUri=https://sense/hub", "connection "+verb+" for session '"+sessionID+"'"
		}
		_, err := fmt.Fprintf(conn, "%s;SENSE1;%s;%s;%s;AppAccess;%s;%s", marker, command, dir, id, where, message) // where: the context field
		require.NoError(t, err)
	}
	// step sends, then waits for a change summary made after it with the
	// app as wanted (nil: not summarised).
	step := func(name string, want *appSummary, sends ...func()) {
		t.Helper()
		since := time.Now()
		for _, f := range sends {
			f()
		}
		var last *summaryGroup
		ok := waitFor(10*time.Second, func() bool {
			last = nil
			for _, g := range summaryGroups(t, p.snapshot()) {
				if g.trigger == "change" && g.at.After(since) {
					last = g
				}
			}
			if last == nil {
				return false
			}
			got, ok := last.apps[app]
			if want == nil {
				return !ok
			}
			return ok && got.ActiveUsers == want.ActiveUsers && got.ActiveConnections == want.ActiveConnections &&
				equalStrings(got.Users, want.Users) && got.isZero() == want.isZero()
		})
		if !ok {
			logSummaries(t, summaryGroups(t, p.snapshot()), 3)
		}
		require.True(t, ok, "%s: no change summary showed the app as %+v", name, want)
		require.NoError(t, last.consistent(), name)
	}
	appState := func(users, connections int, names ...string) *appSummary {
		return &appSummary{AppExpected: replay.AppExpected{App: app, ActiveUsers: users, ActiveConnections: connections,
			Users: append(make([]string, 0, len(names)), names...)}}
	}

	step("anna logs in", nil, func() { send("Start session", `LAB\anna`, "") })
	step("anna opens the app", appState(1, 1, `LAB\anna`), func() { send("Open connection", `LAB\anna`, "s1") })
	step("anna opens a second tab", appState(1, 2, `LAB\anna`), func() { send("Open connection", `LAB\anna`, "s1") })
	step("bob logs in and opens it", appState(2, 3, `CORP\bob`, `LAB\anna`),
		func() { send("Start session", `CORP\bob`, "") }, func() { send("Open connection", `CORP\bob`, "s2") })
	step("anna closes both tabs", appState(1, 1, `CORP\bob`),
		func() { send("Close connection", `LAB\anna`, "s1") }, func() { send("Close connection", `LAB\anna`, "s1") })
	step("bob logs out, his tab closes: the final zero", appState(0, 0),
		func() { send("Stop session", `CORP\bob`, "") }, func() { send("Close connection", `CORP\bob`, "s2") })
	step("anna logs out: the app is gone", nil, func() { send("Stop session", `LAB\anna`, "") })
}

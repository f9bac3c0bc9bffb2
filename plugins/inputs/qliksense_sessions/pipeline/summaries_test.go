package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// steadySite is a pipeline over a site of 1,000 users on 4 servers, each
// with a tab open on an app of its own.
type steadySite struct {
	t *testing.T
	p *Pipeline
}

const steadyApps = 1000

func newSteadySite(t *testing.T) *steadySite {
	s := &steadySite{t: t, p: New(Config{State: state.Config{}, UsersMaxBytes: 1 << 20})}
	for i := range steadyApps {
		s.apply(event.StartSession, i%4, fmt.Sprintf("user%04d", i), "")
		s.apply(event.OpenConnection, i%4, fmt.Sprintf("user%04d", i), steadyApp(i))
	}
	return s
}

func steadyApp(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// apply applies one event of a user on SENSE<server>, with an app's
// context ("" for the hub).
func (s *steadySite) apply(cmd event.Command, server int, user, app string) {
	ev := event.Event{Server: fmt.Sprintf("SENSE%d", server), Command: cmd, Directory: "LAB", UserID: user, Context: "/hub/"}
	if app != "" {
		ev.Context = "/app/" + app
	}
	s.p.mu.Lock()
	s.p.state.Apply(&ev, time.Now())
	s.p.mu.Unlock()
}

// summary emits one summary with the trigger and returns its lines as
// "measurement key active_users/sessions-or-connections users", the key
// being the server or app (none for the site), in the order emitted.
func (s *steadySite) summary(trigger string) []string {
	var acc testutil.Accumulator
	s.p.EmitSummaries(&acc, trigger)
	lines := make([]string, 0, len(acc.Metrics))
	for _, m := range acc.Metrics {
		require.Equal(s.t, trigger, m.Tags["trigger"], "%v", m)
		key := m.Tags["server"] + m.Tags["app_id"]
		count := m.Fields["active_sessions"]
		if m.Measurement == metrics.App {
			count = m.Fields["active_connections"]
		}
		lines = append(lines, strings.TrimSpace(fmt.Sprintf("%s %s %d/%d %s", m.Measurement, key, m.Fields["active_users"], count, m.Fields["users"])))
	}
	return lines
}

// TestChangeSummariesCarryOnlyWhatChanged: on a steady site of 1,000 apps
// with users, a change summary holds the site line and only the servers
// and apps whose counts or user lists changed since the previous summary,
// or the previous change summary (final zeros included); a gather's
// summary holds everything. This failed before issue 22: every change
// summary held every server and app.
func TestChangeSummariesCarryOnlyWhatChanged(t *testing.T) {
	s := newSteadySite(t)
	everything := s.summary(metrics.TriggerInterval)
	require.Len(t, everything, 1+4+steadyApps, "the gather: the site, every server, every app")
	require.Equal(t, `qliksense_users_server SENSE1 250/250`, short(everything)[2])
	require.Equal(t, `qliksense_users_app 00000000-0000-4000-8000-000000000007 1/1 ["LAB\\user0007"]`, everything[1+4+7])

	require.Equal(t, everything, s.summary(metrics.TriggerChange),
		"the first change summary: everything, which no change summary had")
	requireLines(t, []string{"qliksense_users  1000/1000"}, short(s.summary(metrics.TriggerChange)),
		"nothing changed: the site line only")

	// One event: a newcomer on SENSE2 opens app 7.
	s.apply(event.StartSession, 2, "newcomer", "")
	s.apply(event.OpenConnection, 2, "newcomer", steadyApp(7))
	requireLines(t, []string{
		`qliksense_users  1001/1001`,
		`qliksense_users_server SENSE2 251/251`,
		`qliksense_users_app 00000000-0000-4000-8000-000000000007 2/2 ["LAB\\newcomer","LAB\\user0007"]`,
	}, short(s.summary(metrics.TriggerChange)))

	// Counts alone: a second tab on app 7, a second session on SENSE1; a
	// gather comes first, which does not hide them from the change
	// summary (an output may take only those).
	s.apply(event.OpenConnection, 2, "newcomer", steadyApp(7))
	s.apply(event.StartSession, 1, "user0001", "")
	require.Len(t, s.summary(metrics.TriggerInterval), 1+4+steadyApps)
	requireLines(t, []string{
		`qliksense_users  1001/1002`,
		`qliksense_users_server SENSE1 250/251`,
		`qliksense_users_app 00000000-0000-4000-8000-000000000007 2/3 ["LAB\\newcomer","LAB\\user0007"]`,
	}, short(s.summary(metrics.TriggerChange)))

	// The user set alone: on app 9, user0009 leaves and user0010 comes,
	// same counts; on app 11, user0015 comes and goes between two
	// summaries: no change.
	s.apply(event.CloseConnection, 1, "user0009", steadyApp(9))
	s.apply(event.OpenConnection, 2, "user0010", steadyApp(9))
	s.apply(event.OpenConnection, 3, "user0015", steadyApp(11))
	s.apply(event.CloseConnection, 3, "user0015", steadyApp(11))
	requireLines(t, []string{
		`qliksense_users  1001/1002`,
		`qliksense_users_app 00000000-0000-4000-8000-000000000009 1/1 ["LAB\\user0010"]`,
	}, short(s.summary(metrics.TriggerChange)))

	// Final zeros: app 9's last user leaves (his session stays), and all of
	// SENSE3's users log out, which empties their apps but app 7.
	s.apply(event.CloseConnection, 2, "user0010", steadyApp(9))
	for i := 3; i < steadyApps; i += 4 {
		s.apply(event.StopSession, 3, fmt.Sprintf("user%04d", i), "")
	}
	changed := short(s.summary(metrics.TriggerChange))
	require.Len(t, changed, 1+1+steadyApps/4+1)
	require.Equal(t, []string{
		`qliksense_users  751/752`,
		`qliksense_users_server SENSE3 0/0 []`,
		`qliksense_users_app 00000000-0000-4000-8000-000000000003 0/0 []`,
		`qliksense_users_app 00000000-0000-4000-8000-000000000007 1/2 ["LAB\\newcomer"]`,
		`qliksense_users_app 00000000-0000-4000-8000-000000000009 0/0 []`,
		`qliksense_users_app 00000000-0000-4000-8000-000000000011 0/0 []`,
	}, changed[:6])
	require.Equal(t, `qliksense_users_app 00000000-0000-4000-8000-000000000999 0/0 []`, changed[len(changed)-1])

	// A final zero goes out once; the gather holds everything else.
	require.Len(t, s.summary(metrics.TriggerChange), 1)
	everything = short(s.summary(metrics.TriggerInterval))
	require.Len(t, everything, 1+3+steadyApps-steadyApps/4)
	require.Equal(t, []string{
		`qliksense_users  751/752`,
		`qliksense_users_server SENSE0 250/250`,
		`qliksense_users_server SENSE1 250/251`,
		`qliksense_users_server SENSE2 251/251`,
		`qliksense_users_app 00000000-0000-4000-8000-000000000000 1/1 ["LAB\\user0000"]`,
	}, everything[:5])
	require.Contains(t, everything, `qliksense_users_app 00000000-0000-4000-8000-000000000007 1/2 ["LAB\\newcomer"]`)
	require.NotContains(t, everything, `qliksense_users_app 00000000-0000-4000-8000-000000000009 0/0 []`)
}

// TestChangeSummariesCarryChangedVirtualProxies: a virtual proxy's line
// goes out with a change summary when its answer's counts or users differ
// from its previous summary or previous change summary, and with every
// gather.
func TestChangeSummariesCarryChangedVirtualProxies(t *testing.T) {
	vps := []VirtualProxy{{Server: "SENSE1", Tag: "/"}, {Server: "SENSE1", Prefix: "hr", Tag: "hr"}}
	s := &steadySite{t: t, p: New(Config{VirtualProxies: vps, UsersMaxBytes: 1 << 20})}
	anna, bob := state.APISession{Directory: "LAB", UserID: "anna"}, state.APISession{Directory: "LAB", UserID: "bob"}
	s.p.Reconcile("SENSE1", map[string][]state.APISession{"": {anna}, "hr": {bob}}, 0, time.Now())
	requireLines(t, []string{
		`qliksense_users  2/2 ["LAB\\anna","LAB\\bob"]`,
		`qliksense_users_server SENSE1 2/2 ["LAB\\anna","LAB\\bob"]`,
		`qliksense_users_virtual_proxy SENSE1 1/1 ["LAB\\anna"]`,
		`qliksense_users_virtual_proxy SENSE1 1/1 ["LAB\\bob"]`,
	}, s.summary(metrics.TriggerChange), "the first summary")
	requireLines(t, []string{`qliksense_users  2/2 ["LAB\\anna","LAB\\bob"]`}, s.summary(metrics.TriggerChange), "nothing changed")

	// The same answer again; then bob moves to the default virtual proxy.
	s.p.Reconcile("SENSE1", map[string][]state.APISession{"": {anna}, "hr": {bob}}, 0, time.Now())
	requireLines(t, []string{`qliksense_users  2/2 ["LAB\\anna","LAB\\bob"]`}, s.summary(metrics.TriggerChange), "the same answer")
	s.p.Reconcile("SENSE1", map[string][]state.APISession{"": {anna, bob}, "hr": {}}, 0, time.Now())
	requireLines(t, []string{
		`qliksense_users  2/2 ["LAB\\anna","LAB\\bob"]`,
		`qliksense_users_virtual_proxy SENSE1 2/2 ["LAB\\anna","LAB\\bob"]`,
		`qliksense_users_virtual_proxy SENSE1 0/0 []`,
	}, s.summary(metrics.TriggerChange), "bob moved")
	require.Len(t, s.summary(metrics.TriggerInterval), 4, "a gather: everything")

	// A new answer, then a gather: the change summary after it still
	// carries the change.
	s.p.Reconcile("SENSE1", map[string][]state.APISession{"": {anna}, "hr": {bob}}, 0, time.Now())
	require.Len(t, s.summary(metrics.TriggerInterval), 4)
	requireLines(t, []string{
		`qliksense_users  2/2 ["LAB\\anna","LAB\\bob"]`,
		`qliksense_users_virtual_proxy SENSE1 1/1 ["LAB\\anna"]`,
		`qliksense_users_virtual_proxy SENSE1 1/1 ["LAB\\bob"]`,
	}, s.summary(metrics.TriggerChange), "bob back on hr, after a gather")

	// hr answers nothing (a failed poll): it is left out, and its next
	// answer goes out; the default virtual proxy's change went out with a
	// gather only, so far.
	s.p.Reconcile("SENSE1", map[string][]state.APISession{"": {anna, bob}}, 0, time.Now())
	require.Len(t, s.summary(metrics.TriggerInterval), 3)
	s.p.Reconcile("SENSE1", map[string][]state.APISession{"": {anna, bob}, "hr": {}}, 0, time.Now())
	requireLines(t, []string{
		`qliksense_users  2/2 ["LAB\\anna","LAB\\bob"]`,
		`qliksense_users_virtual_proxy SENSE1 2/2 ["LAB\\anna","LAB\\bob"]`,
		`qliksense_users_virtual_proxy SENSE1 0/0 []`,
	}, s.summary(metrics.TriggerChange), "hr back")
	requireLines(t, []string{`qliksense_users  2/2 ["LAB\\anna","LAB\\bob"]`}, s.summary(metrics.TriggerChange), "nothing changed")
}

// requireLines compares the lines of a summary, their number first (so
// that a summary of everything does not fill the failure).
func requireLines(t *testing.T, want, got []string, msgAndArgs ...interface{}) {
	t.Helper()
	if len(got) != len(want) {
		require.FailNow(t, fmt.Sprintf("%d lines, want %d; they start %q", len(got), len(want), got[:min(len(got), 8)]), msgAndArgs...)
	}
	require.Equal(t, want, got, msgAndArgs...)
}

// short cuts the site's and the servers' users lists, which are long, out
// of the lines but an empty one.
func short(lines []string) []string {
	out := slices.Clone(lines)
	for i, line := range out {
		if strings.HasPrefix(line, metrics.App+" ") || strings.HasSuffix(line, " []") {
			continue
		}
		if at := strings.LastIndex(line, " ["); at >= 0 {
			out[i] = line[:at]
		}
	}
	return out
}

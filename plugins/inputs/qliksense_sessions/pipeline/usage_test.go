package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// testClock is a clock the test moves.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time          { return c.now }
func (c *testClock) advance(d time.Duration) { c.now = c.now.Add(d) }
func newTestClock() *testClock               { return &testClock{now: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)} }
func (c *testClock) since(t time.Time) int64 { return int64(c.now.Sub(t) / time.Second) }
func usagePipeline(c *testClock, cfg Config) *Pipeline {
	cfg.Now = c.Now
	cfg.UsersMaxBytes = 1024
	cfg.Log = testutil.Logger{}
	cfg.Throttle = throttle.NewLog(testutil.Logger{}, time.Minute)
	return New(cfg)
}

// datagram hands p a datagram's event, received now.
func datagram(p *Pipeline, c *testClock, server string, cmd event.Command, user string) {
	p.Handle(&event.Parsed{
		Event: event.Event{Server: server, Command: cmd, Directory: "LAB", UserID: user},
		From:  event.Origin{Addr: netip.MustParseAddr("10.0.0.11"), Received: c.now},
	})
}

// summary is one gather's site and per-server fields, by server.
func summary(t *testing.T, p *Pipeline) (site map[string]interface{}, servers map[string]map[string]interface{}) {
	t.Helper()
	var acc testutil.Accumulator
	p.EmitSummaries(&acc, metrics.TriggerInterval)
	servers = make(map[string]map[string]interface{})
	for _, m := range acc.GetTelegrafMetrics() {
		switch m.Name() {
		case metrics.Site:
			site = m.Fields()
		case metrics.Server:
			server, _ := m.GetTag("server")
			servers[server] = m.Fields()
		}
	}
	require.NotNil(t, site)
	return site, servers
}

// TestSilentServers: with a controlled clock, a server with active users
// counts as silent once it sent nothing for silence_alert; an event ends
// it; a server without users is never silent; a restart does not find the
// servers silent from before it.
func TestSilentServers(t *testing.T) {
	clock := newTestClock()
	p := usagePipeline(clock, Config{SilenceAlert: 15 * time.Minute})
	datagram(p, clock, "SENSE1", event.StartSession, "anna")
	clock.advance(5 * time.Minute)
	datagram(p, clock, "SENSE2", event.StartSession, "bob")
	at2 := clock.now

	clock.advance(10*time.Minute - time.Second)
	site, servers := summary(t, p)
	require.Equal(t, int64(0), site["silent_servers"])
	require.Equal(t, int64(15*60-1), servers["SENSE1"]["seconds_since_last_event"])
	require.Equal(t, int64(10*60-1), servers["SENSE2"]["seconds_since_last_event"])
	require.NotContains(t, site, "seconds_since_last_event")

	clock.advance(time.Second) // SENSE1: 15 minutes without an event
	site, servers = summary(t, p)
	require.Equal(t, int64(1), site["silent_servers"])
	require.Equal(t, int64(15*60), servers["SENSE1"]["seconds_since_last_event"])

	clock.advance(5 * time.Minute)
	site, _ = summary(t, p)
	require.Equal(t, int64(2), site["silent_servers"])

	// Any event of the server ends its silence, a connection too.
	datagram(p, clock, "SENSE1", event.OpenConnection, "anna")
	site, servers = summary(t, p)
	require.Equal(t, int64(1), site["silent_servers"])
	require.Equal(t, int64(0), servers["SENSE1"]["seconds_since_last_event"])
	require.Equal(t, clock.since(at2), servers["SENSE2"]["seconds_since_last_event"])

	// SENSE2's last user leaves: its final zero says when, and then it is
	// no server with active users.
	clock.advance(time.Minute)
	datagram(p, clock, "SENSE2", event.StopSession, "bob")
	clock.advance(20 * time.Minute)
	site, servers = summary(t, p)
	require.Equal(t, int64(0), servers["SENSE2"]["active_users"])
	require.Equal(t, int64(20*60), servers["SENSE2"]["seconds_since_last_event"])
	require.Equal(t, int64(1), site["silent_servers"], "SENSE1 again, SENSE2 has no users")
	_, servers = summary(t, p)
	require.NotContains(t, servers, "SENSE2")

	// A restart with the state file: the restored sessions' last events
	// lie before it; silence counts from the start.
	records := p.state.Records()
	require.NotEmpty(t, records)
	clock.advance(time.Hour)
	restarted := usagePipeline(clock, Config{SilenceAlert: 15 * time.Minute})
	restarted.state.Restore(records)
	clock.advance(time.Minute)
	site, servers = summary(t, restarted)
	require.Equal(t, int64(0), site["silent_servers"])
	require.Equal(t, int64(60), servers["SENSE1"]["seconds_since_last_event"])
	clock.advance(14 * time.Minute)
	site, _ = summary(t, restarted)
	require.Equal(t, int64(1), site["silent_servers"])
}

// TestSilenceAlertOff: silence_alert = 0 leaves silent_servers out; the
// servers' seconds_since_last_event stay.
func TestSilenceAlertOff(t *testing.T) {
	clock := newTestClock()
	p := usagePipeline(clock, Config{})
	datagram(p, clock, "SENSE1", event.StartSession, "anna")
	clock.advance(time.Hour)
	site, servers := summary(t, p)
	require.NotContains(t, site, "silent_servers")
	require.Equal(t, int64(3600), servers["SENSE1"]["seconds_since_last_event"])
}

// TestSessionLimitFields: the session limit's fields of the site and the
// servers, and none of them with session_limit = 0 but
// max_sessions_per_user.
func TestSessionLimitFields(t *testing.T) {
	clock := newTestClock()
	p := usagePipeline(clock, Config{State: state.Config{SessionLimit: 2}})
	for _, e := range []struct{ server, user string }{{"SENSE1", "anna"}, {"SENSE2", "anna"}, {"SENSE1", "bob"}, {"SENSE1", "carl"}, {"SENSE1", "carl"}} {
		datagram(p, clock, e.server, event.StartSession, e.user)
	}
	site, servers := summary(t, p)
	require.Equal(t, int64(2), site["max_sessions_per_user"])
	require.Equal(t, int64(2), site["users_at_session_limit"])
	require.Equal(t, `["LAB\\anna","LAB\\carl"]`, site["users_at_limit"])
	require.Equal(t, int64(2), servers["SENSE1"]["max_sessions_per_user"])
	require.Equal(t, int64(1), servers["SENSE1"]["users_at_session_limit"])
	require.Equal(t, `["LAB\\carl"]`, servers["SENSE1"]["users_at_limit"])
	require.Equal(t, int64(1), servers["SENSE2"]["max_sessions_per_user"])
	require.Equal(t, int64(0), servers["SENSE2"]["users_at_session_limit"])
	require.Equal(t, `[]`, servers["SENSE2"]["users_at_limit"])
	require.NotContains(t, site, "users_at_limit_truncated")

	// The two lists share users_max_bytes, users first, both counted as
	// line protocol writes them (every quote and backslash escaped).
	p.cfg.UsersMaxBytes = metrics.LineProtocolSize([]byte(`["LAB\\anna","LAB\\bob","LAB\\carl"]`)) +
		metrics.LineProtocolSize([]byte(`["LAB\\anna"]`))
	site, _ = summary(t, p)
	require.Equal(t, `["LAB\\anna","LAB\\bob","LAB\\carl"]`, site["users"])
	require.Equal(t, `["LAB\\anna"]`, site["users_at_limit"])
	require.Equal(t, true, site["users_at_limit_truncated"])
	// A byte less, and anna's name no longer fits: counted as the raw JSON,
	// it would have.
	p.cfg.UsersMaxBytes--
	site, _ = summary(t, p)
	require.Equal(t, `["LAB\\anna","LAB\\bob","LAB\\carl"]`, site["users"])
	require.Equal(t, `[]`, site["users_at_limit"])
	require.Equal(t, true, site["users_at_limit_truncated"])

	off := usagePipeline(clock, Config{})
	datagram(off, clock, "SENSE1", event.StartSession, "anna")
	datagram(off, clock, "SENSE1", event.StartSession, "anna")
	site, servers = summary(t, off)
	require.Equal(t, int64(2), site["max_sessions_per_user"])
	require.Equal(t, int64(2), servers["SENSE1"]["max_sessions_per_user"])
	for _, fields := range []map[string]interface{}{site, servers["SENSE1"]} {
		require.NotContains(t, fields, "users_at_session_limit")
		require.NotContains(t, fields, "users_at_limit")
	}
}

// TestUsageInChangeSummaries: a change summary carries a server whose
// max_sessions_per_user changed though its counts did not, and not one
// whose seconds_since_last_event alone moved (a gather-time figure).
func TestUsageInChangeSummaries(t *testing.T) {
	clock := newTestClock()
	p := usagePipeline(clock, Config{State: state.Config{SessionLimit: 3}})
	change := func() map[string]map[string]interface{} {
		var acc testutil.Accumulator
		p.EmitSummaries(&acc, metrics.TriggerChange)
		servers := make(map[string]map[string]interface{})
		for _, m := range acc.GetTelegrafMetrics() {
			if m.Name() == metrics.Server {
				server, _ := m.GetTag("server")
				servers[server] = m.Fields()
			}
		}
		return servers
	}
	for range 3 {
		datagram(p, clock, "SENSE1", event.StartSession, "anna")
	}
	datagram(p, clock, "SENSE1", event.StartSession, "bob")
	datagram(p, clock, "SENSE2", event.StartSession, "carl")
	require.Len(t, change(), 2)

	clock.advance(time.Minute)
	datagram(p, clock, "SENSE1", event.StopSession, "anna")
	datagram(p, clock, "SENSE1", event.StartSession, "bob")
	servers := change()
	require.Len(t, servers, 1, "SENSE2's seconds_since_last_event alone is no change")
	require.Equal(t, int64(2), servers["SENSE1"]["max_sessions_per_user"], "the same counts, fewer sessions of one user")
	require.Equal(t, int64(4), servers["SENSE1"]["active_sessions"])
	require.Equal(t, `[]`, servers["SENSE1"]["users_at_limit"])

	clock.advance(time.Minute)
	require.Empty(t, change())
	_, all := summary(t, p)
	require.Equal(t, int64(120), all["SENSE2"]["seconds_since_last_event"])
}

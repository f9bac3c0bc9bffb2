package statefile

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// The state file and the state agree on every limit: LoadFor accepts what a
// state of the same config saved, and the state restores all LoadFor
// accepts.

// LoadFor skips the records that would give a user more sessions than
// max_user_sessions over all servers (users named in any case), and
// Load and LoadFor drop session ids longer than the state keeps.
func TestLoadForHoldsTheStatesLimits(t *testing.T) {
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", state.MaxSessionIDLength+1)
	atLimit := strings.Repeat("y", state.MaxSessionIDLength)
	path := writeFile(t,
		record("SENSE1", "LAB", "anna", "60"),
		record("SENSE2", "lab", "ANNA", "40"),
		record("SENSE3", "LAB", "anna", "1"), // the 101st
		record("SENSE1", "LAB", "bob", "101"),
		record("SENSE2", "LAB", "bob", "100"),
		`{"server":"SENSE1","directory":"LAB","user_id":"carl","sessions":2,"first_seen":"2026-11-24T07:55:00Z","last_seen":"2026-11-24T07:59:00Z",`+
			`"known":[{"id":"`+long+`"},{"id":"`+atLimit+`"}]}`,
	)
	f, err := loadForAt(path, now, state.Config{MaxUserSessions: 100})
	require.NoError(t, err)
	kept := make(map[string]int)
	for _, r := range f.Sessions {
		kept[r.Server+" "+r.UserID] = r.Sessions
	}
	require.Equal(t, map[string]int{"SENSE1 anna": 60, "SENSE2 ANNA": 40, "SENSE2 bob": 100, "SENSE1 carl": 2}, kept)
	require.Equal(t, Skipped{ReasonMaxUserSessions: 2}, f.Skipped)
	require.Equal(t, "2 records skipped: 2 with "+ReasonMaxUserSessions, f.Skipped.String())
	require.Contains(t, ReasonMaxUserSessions, "max_user_sessions")
	require.Equal(t, 1, f.KnownDropped)
	require.Equal(t, "carl", f.Sessions[3].UserID)
	require.Equal(t, []state.KnownSession{{ID: atLimit}}, f.Sessions[3].Known)

	// Without the state's limits, only the file's own.
	f, err = loadAt(path, now)
	require.NoError(t, err)
	require.Len(t, f.Sessions, 6)
	require.Equal(t, 1, f.KnownDropped, "no state keeps a longer id")
}

// limitsConfig is a state at the plugin's limits, but for fewer sessions
// per user, so that the traffic reaches them.
var limitsConfig = state.Config{ReorderWindow: state.DefaultReorderWindow, MaxUsers: 1000, MaxServers: 100, MaxApps: 1000, MaxUserSessions: 10}

// floodedState is a state of cfg after random traffic that goes past its
// limits: many session ids per user over several servers, some of
// state.MaxSessionIDLength bytes and some longer, with and without
// connections to apps.
func floodedState(t *testing.T, cfg state.Config, seed uint64) *state.State {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 21))
	s := state.New(cfg)
	at := time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)
	cmds := []event.Command{event.StartSession, event.StopSession, event.OpenConnection, event.OpenConnection, event.CloseConnection}
	refused := 0
	for range 20_000 {
		at = at.Add(time.Duration(rng.IntN(200)) * time.Millisecond)
		ev := event.Event{Server: fmt.Sprintf("SENSE%d", rng.IntN(3)), Command: cmds[rng.IntN(len(cmds))],
			Directory: "LAB", UserID: fmt.Sprintf("user%d", rng.IntN(20))}
		if rng.IntN(4) > 0 {
			id := fmt.Sprintf("%d-", rng.IntN(400))
			ev.SessionID = id + strings.Repeat("s", rng.IntN(state.MaxSessionIDLength+20-len(id)))
		}
		if rng.IntN(2) == 0 {
			ev.Context = fmt.Sprintf("/app/%08x-0000-4000-8000-%012x", rng.IntN(5), 0)
		}
		if s.Apply(&ev, at) == state.RefusedMaxUserSessions {
			refused++
		}
	}
	require.NotZero(t, refused, "the traffic never reached max_user_sessions")
	require.NotZero(t, s.Counters().RefusedSessionIDLength, "the traffic never had ids over the limit")
	return s
}

// What a state at its limits saves, LoadFor its config accepts whole, and a
// state of that config restores whole.
func TestWhatTheStateSavesLoadsWhole(t *testing.T) {
	for seed := range uint64(5) {
		s := floodedState(t, limitsConfig, seed)
		records := s.Records()
		path := filepath.Join(t.TempDir(), "state.json")
		require.NoError(t, Save(path, records, time.Now()))
		f, err := LoadFor(path, limitsConfig)
		require.NoError(t, err)
		require.Zero(t, f.Skipped.Total(), "seed %d: %s", seed, f.Skipped)
		require.Zero(t, f.KnownDropped, "seed %d", seed)
		r := state.New(limitsConfig)
		require.Zero(t, r.Restore(f.Sessions), "seed %d", seed)
		require.Zero(t, r.Counters().RefusedMaxUserSessions, "seed %d", seed)
		require.Equal(t, merged(records), merged(r.Records()), "seed %d", seed)
	}
}

// merged is records with each list of connections to apps merged per app,
// in order of the apps: a session's connections to one app may be listed
// in two entries (a session that drained and came back), which Restore
// counts together.
func merged(records []state.Record) []state.Record {
	mergeApps := func(apps []state.AppConnections) []state.AppConnections {
		per := make(map[string]int)
		for _, a := range apps {
			per[a.App] += a.Connections
		}
		out := make([]state.AppConnections, 0, len(per))
		for app, n := range per {
			out = append(out, state.AppConnections{App: app, Connections: n})
		}
		slices.SortFunc(out, func(a, b state.AppConnections) int { return strings.Compare(a.App, b.App) })
		return out
	}
	out := make([]state.Record, 0, len(records))
	for _, r := range records {
		r.Apps = mergeApps(r.Apps)
		known := make([]state.KnownSession, 0, len(r.Known))
		for _, k := range r.Known {
			k.Apps = mergeApps(k.Apps)
			known = append(known, k)
		}
		r.Known = known
		out = append(out, r)
	}
	return out
}

// Whatever LoadFor accepts, a state of the same config restores whole:
// random files, many of whose records and ids are past the limits.
func TestWhatLoadForAcceptsTheStateHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 21))
	for round := range 20 {
		records := make([]string, 0, 60)
		for range 60 {
			known := make([]string, 0, 4)
			for range rng.IntN(4) {
				known = append(known, fmt.Sprintf(`{"id":%q,"connections":%d}`, strings.Repeat("k", 1+rng.IntN(state.MaxSessionIDLength+10)), rng.IntN(3)))
			}
			records = append(records, fmt.Sprintf(`{"server":"SENSE%d","directory":"LAB","user_id":"user%d","sessions":%d,`+
				`"first_seen":"2026-11-24T07:55:00Z","last_seen":"2026-11-24T07:59:00Z","known":[%s]}`,
				rng.IntN(4), rng.IntN(15), 1+rng.IntN(3*limitsConfig.MaxUserSessions/2), strings.Join(known, ",")))
		}
		f, err := LoadFor(writeFile(t, records...), limitsConfig)
		require.NoError(t, err)
		require.NotZero(t, f.Skipped[ReasonMaxUserSessions], "round %d", round)
		total := 0
		for _, r := range f.Sessions {
			total += r.Sessions
		}
		s := state.New(limitsConfig)
		require.Zero(t, s.Restore(f.Sessions), "round %d", round)
		require.Zero(t, s.Counters().RefusedMaxUserSessions, "round %d", round)
		require.Equal(t, total, s.ActiveSessions(), "round %d", round)
	}
}

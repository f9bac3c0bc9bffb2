package replay

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// churnRun is what churned sent and what the simulation expected.
type churnRun struct {
	payloads      [][]byte
	before, after Expected // before and after the final logout
	churns        int      // users who left for good
}

// churned runs a simulation in which, before each event, a user leaves for
// good with probability churn, then logs out all users but a share keep.
func churned(t *testing.T, cfg SimConfig, churn, keep float64) churnRun {
	t.Helper()
	var payloads [][]byte
	churns := 0
	sim, err := NewSimulation(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(cfg.Seed, 99))
	var buf []byte
	send := func(ev Event) {
		buf, err = AppendPayload(buf[:0], cfg.Format, &ev, time.Time{})
		require.NoError(t, err)
		payloads = append(payloads, append([]byte(nil), buf...))
	}
	traffic := cfg.Events * 9 / 10
	for len(payloads) < traffic {
		if rng.Float64() < churn && sim.Churn() {
			churns++
		}
		ev, ok := sim.Next()
		require.True(t, ok)
		send(ev)
	}
	before := sim.Expected()
	pending := sim.LogOutAll(keep)
	for i := 0; i < pending; i++ {
		ev, ok := sim.Next()
		require.True(t, ok, "event %d of %d to settle", i, pending)
		send(ev)
	}
	return churnRun{payloads: payloads, before: before, after: sim.Expected(), churns: churns}
}

// With churn and a final logout the simulation's model and the replay's
// Model still agree, apps included; users come and go, with names never
// seen before, and the logout leaves the share asked for.
func TestChurnAndLogOutAgreeWithTheModel(t *testing.T) {
	for _, format := range []string{"sos", "butler", "legacy"} {
		for i, rate := range []float64{0, 1000} {
			t.Run(fmt.Sprintf("%s at %g per s", format, rate), func(t *testing.T) {
				cfg := SimConfig{Users: 300, Directories: 3, Servers: 4, Events: 40000, Seed: 11 + uint64(i), Format: format,
					Race: 0.3, Preexisting: 60, WindowEvents: WindowEvents(rate)}
				run := churned(t, cfg, 0.05, 0.1)
				before, after := run.before, run.after
				require.Equal(t, after, ExpectFromPayloads(run.payloads, rate))
				require.Greater(t, run.churns, 1000)
				require.Greater(t, before.ActiveUsers, 100)
				stay := before.ActiveUsers / 4
				if rate == 0 {
					// Without a window to wait out, sessions that began
					// before we listened never end (SimConfig.WindowEvents).
					stay += cfg.Preexisting
				}
				require.Less(t, after.ActiveUsers, stay, "most users logged out")
				require.NotZero(t, after.ActiveUsers, "some stay")
				newcomers := 0
				for _, u := range after.Users {
					if strings.Contains(u, ".") {
						newcomers++
					}
				}
				require.NotZero(t, newcomers, "users who came after the first ones")
				if format != "legacy" {
					require.NotEmpty(t, after.Apps)
				}
			})
		}
	}
}

// Churn keeps the active set from piling up: without it each user's
// sessions are a random walk and their count grows with the traffic.
func TestChurnBoundsTheActiveSet(t *testing.T) {
	cfg := SimConfig{Users: 1000, Directories: 2, Servers: 10, Events: 1 << 30, Seed: 5, Format: "sos", Race: 0.05}
	sessionsAt := func(churn float64, events int) int {
		sim, err := NewSimulation(cfg)
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < events; i++ {
			if rng.Float64() < churn {
				sim.Churn()
			}
			sim.Next()
		}
		return sim.Expected().ActiveSessions
	}
	early, late := sessionsAt(0.05, 50_000), sessionsAt(0.05, 200_000)
	require.InDelta(t, early, late, float64(early)/10, "with churn: %d sessions after 50,000 events, %d after 200,000", early, late)
	early, late = sessionsAt(0, 50_000), sessionsAt(0, 200_000)
	require.Greater(t, late, early*3/2, "without churn: %d sessions after 50,000 events, %d after 200,000", early, late)
}

func TestNextGeneration(t *testing.T) {
	require.Equal(t, "anna0007.2", nextGeneration("anna0007"))
	require.Equal(t, "anna0007.3", nextGeneration("anna0007.2"))
	require.Equal(t, "anna0007.10", nextGeneration("anna0007.9"))
	require.Equal(t, "j.doe.2", nextGeneration("j.doe"))
}

package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Checked is a model of the active set under test: the replay's Model, or
// the plugin's parser and state (their tests adapt them).
type Checked interface {
	// Apply takes one payload that arrived at at.
	Apply(payload []byte, at time.Time)
	// Sweep ends, at at, what waited for the reorder window.
	Sweep(at time.Time)
	// Snapshot is the active set after n payloads.
	Snapshot(n int) Expected
}

// CheckpointStats is what a CheckSettledCheckpoints run met.
type CheckpointStats struct {
	Checkpoints int // settled checkpoints checked
	AppsSeen    int // apps in their expected sets, over all of them
	Unsettled   int // points between events decided together
	Ahead       int // of them, where the simulation's model was ahead of the traffic
}

// Lacking says what of a check's worth the run did not meet: least
// checkpoints, apps in them, points between events decided together, and
// of those some where the simulation's model was ahead of the traffic; ""
// when it met all.
func (st CheckpointStats) Lacking(least int) string {
	switch {
	case st.Checkpoints < least:
		return fmt.Sprintf("%d checkpoints, not %d", st.Checkpoints, least)
	case st.AppsSeen == 0:
		return "no apps at the checkpoints"
	case st.Unsettled == 0:
		return "the traffic has no events decided together"
	case st.Ahead == 0:
		return "between events decided together the model was never ahead of the traffic"
	}
	return ""
}

func (st CheckpointStats) String() string {
	return fmt.Sprintf("%d checkpoints; the model was ahead at %d of %d unsettled points", st.Checkpoints, st.Ahead, st.Unsettled)
}

// CheckSettledCheckpoints sends the simulation of cfg at rate payloads a
// second through m, in bursts of about 500 with a pause of three reorder
// windows where the simulation is Settled, and hands check each such
// checkpoint's expected and checked sets; every 97 payloads where it is
// not settled, it notes whether the two differ (the model is ahead).
func CheckSettledCheckpoints(cfg SimConfig, rate float64, window time.Duration, m Checked,
	check func(checkpoint, n int, want, got Expected)) (CheckpointStats, error) {
	var st CheckpointStats
	sim, err := NewSimulation(cfg)
	if err != nil {
		return st, err
	}
	at := time.Unix(1_000_000_000, 0)
	var p []byte
	for n := 1; ; n++ {
		e, ok := sim.Next()
		if !ok {
			return st, nil
		}
		if p, err = AppendPayload(p[:0], cfg.Format, &e, time.Time{}); err != nil {
			return st, err
		}
		at = at.Add(time.Duration(float64(time.Second) / rate))
		m.Apply(p, at)
		if n%97 == 0 && !sim.Settled() {
			st.Unsettled++
			m.Sweep(at)
			if !sameButEvents(sim.Expected(), m.Snapshot(n)) {
				st.Ahead++
			}
		}
		if n < (st.Checkpoints+1)*500 || !sim.Settled() {
			continue
		}
		// A checkpoint: the sender pauses, summaries go out.
		st.Checkpoints++
		at = at.Add(3 * window)
		m.Sweep(at)
		want := sim.Expected()
		check(st.Checkpoints, n, want, m.Snapshot(n))
		st.AppsSeen += len(want.Apps)
	}
}

// sameButEvents compares two expectations but for EventsSent, as JSON
// (an empty list and none alike).
func sameButEvents(a, b Expected) bool {
	a.EventsSent, b.EventsSent = 0, 0
	da, errA := json.Marshal(a)
	db, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

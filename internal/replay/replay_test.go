package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func simulate(t *testing.T, cfg SimConfig) ([][]byte, Expected) {
	t.Helper()
	sim, err := NewSimulation(cfg)
	require.NoError(t, err)
	var payloads [][]byte
	for ev, ok := sim.Next(); ok; ev, ok = sim.Next() {
		p, err := AppendPayload(nil, cfg.Format, &ev, time.Time{})
		require.NoError(t, err)
		payloads = append(payloads, p)
	}
	return payloads, sim.Expected()
}

// The simulation's own model and the replay's model of the plugin's rules
// (its reader and Model), fed the same payloads, must agree: each checks
// the other. The traffic has sessions sent out of order and sessions that
// began before the plugin listened. (The plugin's parser and state agree
// with the Model: state/replay_crosscheck_test.go.)
func TestSimulationAgreesWithTheModel(t *testing.T) {
	for _, format := range []string{"sos", "butler", "legacy"} {
		for i, rate := range []float64{0, 1000, 200} {
			t.Run(fmt.Sprintf("%s at %g per s", format, rate), func(t *testing.T) {
				cfg := SimConfig{Users: 200, Directories: 3, Servers: 4, Events: 20000, Seed: 7 + uint64(i), Format: format,
					Race: 0.3, Preexisting: 60, WindowEvents: WindowEvents(rate)}
				payloads, simulated := simulate(t, cfg)
				require.Equal(t, cfg.Events, simulated.EventsSent)
				require.NotZero(t, simulated.ActiveUsers)
				require.Equal(t, simulated, ExpectFromPayloads(payloads, rate))
			})
		}
	}
}

// Without the reorder window the model would count the raced sessions
// twice, as the plugin would (state/replay_crosscheck_test.go): the traffic
// does test the window.
func TestRacesNeedTheModelsWindow(t *testing.T) {
	cfg := SimConfig{Users: 200, Directories: 3, Servers: 4, Events: 20000, Seed: 7, Format: "sos", Race: 0.3}
	payloads, expected := simulate(t, cfg)
	m := NewModel(0)
	for _, p := range payloads {
		if ev, status := ReadPayload(p); status == Accepted {
			m.Apply(&ev, time.Unix(1e9, 0))
		}
	}
	require.Greater(t, m.Snapshot(len(payloads)).ActiveSessions, expected.ActiveSessions)
}

func TestExcludedAccountsAreSentButNotExpected(t *testing.T) {
	cfg := SimConfig{Users: 50, Directories: 2, Servers: 2, Events: 5000, Seed: 3, Format: "sos",
		Exclude: []string{`INTERNAL\sa_repository`, `INTERNAL\sa_scheduler`}}
	payloads, expected := simulate(t, cfg)
	kept := make([][]byte, 0, len(payloads))
	service := 0
	for _, p := range payloads {
		if strings.Contains(string(p), ";INTERNAL;sa_") {
			service++
			continue
		}
		kept = append(kept, p)
	}
	require.Greater(t, service, 100, "about 5%% of the events are the service accounts'")
	fromModel := ExpectFromPayloads(kept, 0)
	fromModel.EventsSent = expected.EventsSent
	require.Equal(t, expected, fromModel)
	for _, u := range expected.Users {
		require.NotContains(t, u, "INTERNAL")
	}

	_, err := NewSimulation(SimConfig{Users: 1, Directories: 1, Servers: 1, Format: "sos", Exclude: []string{"nobackslash"}})
	require.ErrorContains(t, err, "not DIRECTORY\\userid")
}

func TestSameSeedSameTraffic(t *testing.T) {
	cfg := SimConfig{Users: 30, Directories: 2, Servers: 2, Events: 500, Seed: 11, Format: "sos"}
	a, expA := simulate(t, cfg)
	b, expB := simulate(t, cfg)
	require.Equal(t, a, b)
	require.Equal(t, expA, expB)
	cfg.Seed = 12
	c, _ := simulate(t, cfg)
	require.NotEqual(t, a, c)
}

func TestPayloadsParseAndVaryCase(t *testing.T) {
	for _, format := range []string{"sos", "butler", "legacy"} {
		payloads, _ := simulate(t, SimConfig{Users: 20, Directories: 2, Servers: 2, Events: 2000, Seed: 5, Format: format})
		lowered, ignored := 0, 0
		commands := map[string]int{}
		for _, p := range payloads {
			ev, status := ReadPayload(p)
			switch status {
			case Malformed:
				t.Fatalf("%s: malformed payload %q", format, p)
			case Ignored:
				ignored++
				continue
			}
			commands[ev.Command]++
			if ev.Directory == strings.ToLower(ev.Directory) {
				lowered++
			}
		}
		require.Len(t, commands, 4, "%s: every command occurs", format)
		require.Greater(t, lowered, len(payloads)/20, "%s: directories are spelt in other cases too", format)
		if format == "legacy" {
			require.Greater(t, ignored, len(payloads)/20, "legacy traffic carries untracked commands")
		} else {
			require.Zero(t, ignored)
		}
	}
}

func TestStampAndMarkers(t *testing.T) {
	ev := Event{Server: "SENSE1", Command: "Open connection", Directory: "LAB", UserID: "anna", Context: "/hub/", Message: "m"}
	at := time.Unix(0, 1234567890)
	p, err := AppendPayload(nil, "sos", &ev, at)
	require.NoError(t, err)
	require.Equal(t, "/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/hub/;m sent=1234567890", string(p))
	ev.Command = "Stop session"
	p, err = AppendPayload(nil, "butler", &ev, time.Time{})
	require.NoError(t, err)
	require.Equal(t, "/proxy-session/;SENSE1;Stop session;LAB;anna;AppAccess;/hub/;m", string(p))
	p, err = AppendPayload(nil, "legacy", &ev, at)
	require.NoError(t, err)
	require.Equal(t, "SENSE1;Stop session;LAB;anna", string(p))
	_, err = AppendPayload(nil, "xml", &ev, at)
	require.ErrorContains(t, err, "want sos, butler or legacy")
}

func TestSendOverLoopbackKeepsOrder(t *testing.T) {
	listener, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer listener.Close()
	require.NoError(t, listener.SetReadBuffer(4<<20)) // hold the whole burst
	conn, err := net.Dial("udp", listener.LocalAddr().String())
	require.NoError(t, err)
	defer conn.Close()

	payloads, _ := simulate(t, SimConfig{Users: 10, Directories: 1, Servers: 1, Events: 200, Seed: 1, Format: "sos"})
	res, err := Send(context.Background(), conn, NextOf(payloads), 0, false)
	require.NoError(t, err)
	require.Equal(t, SendResult{Sent: len(payloads)}, res)
	buf := make([]byte, 65536)
	for _, want := range payloads {
		require.NoError(t, listener.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := listener.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, string(want), string(buf[:n]))
	}
}

func TestPacerKeepsAnAbsoluteSchedule(t *testing.T) {
	now := time.Unix(100, 0)
	var slept []time.Duration
	p := &Pacer{start: now, rate: 1000, now: func() time.Time { return now }, sleep: func(d time.Duration) {
		slept = append(slept, d)
		now = now.Add(d)
	}}
	for i := 0; i < 10; i++ {
		p.Wait(i)
	}
	// Event 2 is due at +2ms: sleep then; events up to 1ms ahead go at once.
	require.Equal(t, now, time.Unix(100, 0).Add(8*time.Millisecond))
	require.NotEmpty(t, slept)

	unpaced := &Pacer{rate: 0, sleep: func(time.Duration) { t.Fatal("rate 0 must not sleep") }, now: time.Now}
	unpaced.Wait(1000)
}

func TestExpectedJSON(t *testing.T) {
	_, expected := simulate(t, SimConfig{Users: 10, Directories: 2, Servers: 2, Events: 100, Seed: 2, Format: "sos"})
	data, err := json.Marshal(expected)
	require.NoError(t, err)
	require.Contains(t, string(data), `"active_users":`)
	var back Expected
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, expected, back)

	empty := SimConfig{Users: 1, Directories: 1, Servers: 1, Events: 0, Format: "sos"}
	_, none := simulate(t, empty)
	data, err = json.Marshal(none)
	require.NoError(t, err)
	require.Equal(t, `{"events_sent":0,"active_users":0,"active_sessions":0,"users":[],"servers":[],"apps":[]}`, string(data))
}

// A UDP send to a port nobody listens on may fail later with "connection
// refused" (Linux reports the ICMP port unreachable of one datagram on the
// next write of a connected socket). Send counts it, goes on, and the
// datagrams reach the listener once it is there.
func TestSendGoesOnWhenNobodyListensYet(t *testing.T) {
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	addr := probe.LocalAddr().(*net.UDPAddr)
	require.NoError(t, probe.Close()) // nobody listens there now
	conn, err := net.Dial("udp4", addr.String())
	require.NoError(t, err)
	defer conn.Close()

	const before, after = 200, 50
	var listener *net.UDPConn
	i := 0
	res, err := Send(context.Background(), conn, func(time.Time) ([]byte, bool) {
		if i == before {
			// The plugin starts listening.
			listener, err = net.ListenUDP("udp4", addr)
			require.NoError(t, err, "the port was taken in the meantime")
			require.NoError(t, listener.SetReadBuffer(1<<20))
		}
		if i == before+after {
			return nil, false
		}
		i++
		return fmt.Appendf(nil, "payload %d", i), true
	}, 0, false)
	require.NoError(t, err)
	defer listener.Close()
	require.Equal(t, before+after, res.Sent+res.Unsent)
	if runtime.GOOS == "linux" {
		require.Greater(t, res.Refused, before/2, "Linux reports most of them on loopback")
		require.Zero(t, res.Unsent, "a retry goes through: the error was an earlier datagram's")
	}
	t.Logf("%+v", res)

	// What was sent after the listener came arrives, the last one included.
	buf := make([]byte, 100)
	var got []string
	for len(got) == 0 || got[len(got)-1] != fmt.Sprint("payload ", before+after) {
		require.NoError(t, listener.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := listener.ReadFrom(buf)
		require.NoError(t, err, "got %d datagrams: %v", len(got), got)
		got = append(got, string(buf[:n]))
	}
	require.GreaterOrEqual(t, len(got), after)
}

// Traffic sent in bursts, with pauses longer than the reorder window where
// Settled holds: at every such checkpoint the simulation's model and the
// replay's Model agree, apps included. Where Settled does not hold, the
// simulation's model is ahead of what was sent, and they may not.
func TestSettledCheckpointsAgreeWithTheModel(t *testing.T) {
	const rate = 1000
	cfg := SimConfig{Users: 60, Directories: 2, Servers: 3, Events: 8000, Seed: 17, Format: "sos",
		Race: 0.3, Preexisting: 20, WindowEvents: WindowEvents(rate)}
	st, err := CheckSettledCheckpoints(cfg, rate, ReorderWindow, modelChecked{NewModel(ReorderWindow)}, func(checkpoint, n int, want, got Expected) {
		require.Equal(t, want, got, "checkpoint %d after %d events", checkpoint, n)
	})
	require.NoError(t, err)
	require.Empty(t, st.Lacking(15))
	t.Log(st)
}

// modelChecked is the replay's Model under CheckSettledCheckpoints.
type modelChecked struct{ m *Model }

func (c modelChecked) Apply(payload []byte, at time.Time) {
	if ev, status := ReadPayload(payload); status == Accepted {
		c.m.Apply(&ev, at)
	}
}
func (c modelChecked) Sweep(at time.Time)      { c.m.Sweep(at) }
func (c modelChecked) Snapshot(n int) Expected { return c.m.Snapshot(n) }

package replay

import (
	"context"
	"errors"
	"math"
	"net"
	"syscall"
	"time"
)

// Pacer spaces n events at rate per second on an absolute schedule: event i
// is due at start + i/rate, so short sleeps add no drift. Rate 0 never waits.
type Pacer struct {
	start time.Time
	rate  float64
	sleep func(time.Duration)
	now   func() time.Time
}

// NewPacer starts a schedule now.
func NewPacer(rate float64) *Pacer {
	return &Pacer{start: time.Now(), rate: rate, sleep: time.Sleep, now: time.Now}
}

// Wait blocks until event i is due. It sleeps only when more than a
// millisecond ahead, as the OS would not sleep shorter anyway.
func (p *Pacer) Wait(i int) {
	if p.rate <= 0 {
		return
	}
	due := SimClock{Start: p.start, Rate: p.rate}.At(i)
	if ahead := due.Sub(p.now()); ahead > time.Millisecond {
		p.sleep(ahead)
	}
}

// ReorderWindow mirrors the plugin's default reorder window
// (reorder_window; state.DefaultReorderWindow in the plugin): how late a
// Start session may come after its own Open connection or Stop session and
// still be taken for theirs.
const ReorderWindow = 5 * time.Second

// WindowEvents is how many events go out within the plugin's default
// reorder window at rate per second; 0 for rate 0 (all within it).
func WindowEvents(rate float64) int {
	return int(math.Ceil(rate * ReorderWindow.Seconds()))
}

// NextOf hands payloads to Send one after the other, unstamped, then
// reports none.
func NextOf(payloads [][]byte) func(stamp time.Time) ([]byte, bool) {
	i := 0
	return func(time.Time) ([]byte, bool) {
		if i == len(payloads) {
			return nil, false
		}
		i++
		return payloads[i-1], true
	}
}

// SendResult counts what Send did.
type SendResult struct {
	// Sent is how many payloads went to the socket.
	Sent int
	// Refused is how many writes the OS failed with "connection refused":
	// an ICMP port unreachable had come back for an earlier datagram, as
	// when nobody listens on the port yet (Linux reports it on the next
	// write of a connected socket, and sends nothing that time). Each one
	// is a datagram that nobody received: a lower bound on those lost.
	Refused int
	// Unsent is how many payloads were given up after every retry was
	// refused too (not counted in Sent).
	Unsent int
}

// sendRetries is how often a refused write is tried again.
const sendRetries = 3

// Send writes payloads from next to conn, one datagram each, at rate per
// second (0: as fast as possible), until next reports none or ctx ends. With
// stamp, next receives the send time to stamp into the payload. A write
// refused because an earlier datagram found no listener is counted and
// tried again: it does not end the run (the plugin may not listen yet).
func Send(ctx context.Context, conn net.Conn, next func(stamp time.Time) ([]byte, bool), rate float64, stamp bool) (SendResult, error) {
	pacer := NewPacer(rate)
	var res SendResult
	for i := 0; ctx.Err() == nil; i++ {
		pacer.Wait(i)
		var at time.Time
		if stamp {
			at = time.Now()
		}
		payload, ok := next(at)
		if !ok {
			return res, nil
		}
		for try := 0; ; try++ {
			_, err := conn.Write(payload)
			if err == nil {
				res.Sent++
				break
			}
			if !refused(err) {
				return res, err
			}
			res.Refused++
			if try == sendRetries {
				res.Unsent++
				break
			}
		}
	}
	return res, ctx.Err()
}

// refused tells whether a write failed for an ICMP port unreachable that
// came back for an earlier datagram (ECONNREFUSED; ECONNRESET on some
// systems).
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// ExpectFromPayloads is the active set the plugin must show after
// receiving these payloads at rate per second (0: at once), by the replay's
// own reader (ReadPayload) and model, with the plugin's default reorder
// window, swept as the plugin sweeps before a summary.
func ExpectFromPayloads(payloads [][]byte, rate float64) Expected {
	m := NewModel(ReorderWindow)
	clock := SimClock{Start: time.Unix(1_000_000_000, 0), Rate: rate}
	at := clock.Start
	for i, p := range payloads {
		at = clock.At(i)
		if ev, status := ReadPayload(p); status == Accepted {
			m.Apply(&ev, at)
		}
	}
	m.Sweep(at.Add(time.Second))
	return m.Snapshot(len(payloads))
}

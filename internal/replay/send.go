package replay

import (
	"context"
	"math"
	"net"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/log4net"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/session"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
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
	due := p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
	if ahead := due.Sub(p.now()); ahead > time.Millisecond {
		p.sleep(ahead)
	}
}

// WindowEvents is how many events go out within the plugin's default
// reorder window at rate per second; 0 for rate 0 (all within it).
func WindowEvents(rate float64) int {
	return int(math.Ceil(rate * state.DefaultReorderWindow.Seconds()))
}

// Send writes payloads from next to conn, one datagram each, at rate per
// second (0: as fast as possible), until next reports none or ctx ends. With
// stamp, next receives the send time to stamp into the payload.
func Send(ctx context.Context, conn net.Conn, next func(stamp time.Time) ([]byte, bool), rate float64, stamp bool) (int, error) {
	pacer := NewPacer(rate)
	sent := 0
	for ; ctx.Err() == nil; sent++ {
		pacer.Wait(sent)
		var at time.Time
		if stamp {
			at = time.Now()
		}
		payload, ok := next(at)
		if !ok {
			return sent, nil
		}
		if _, err := conn.Write(payload); err != nil {
			return sent, err
		}
	}
	return sent, ctx.Err()
}

// ExpectFromPayloads is the active set the plugin shows after receiving
// these payloads at rate per second (0: at once): they run through the
// plugin's own parser and state, with its default reorder window.
func ExpectFromPayloads(payloads [][]byte, rate float64) Expected {
	s := state.New(state.Config{ReorderWindow: state.DefaultReorderWindow})
	var ev session.Event
	start := time.Unix(1_000_000_000, 0)
	at := start
	for i, p := range payloads {
		if rate > 0 {
			at = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		}
		if status, _ := log4net.Parse(p, &ev); status == log4net.Accepted {
			s.Apply(&ev, at)
		}
	}
	site, servers := s.Snapshot()
	exp := Expected{EventsSent: len(payloads), ActiveUsers: site.ActiveUsers, ActiveSessions: site.ActiveSessions, Users: site.Users, Servers: []ServerExpected{}}
	for _, srv := range servers {
		if srv.ActiveSessions > 0 {
			exp.Servers = append(exp.Servers, ServerExpected{Server: srv.Server, ActiveUsers: srv.ActiveUsers, ActiveSessions: srv.ActiveSessions, Users: srv.Users})
		}
	}
	return exp
}

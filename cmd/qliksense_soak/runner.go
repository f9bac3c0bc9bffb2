package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/procstat"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

// runner sends the phases of a run to the plugin at the rate, and samples
// the plugin every second while they go out and after.
type runner struct {
	plugin *plugin
	conn   net.Conn
	rate   float64
	start  time.Time

	sent    atomic.Int64 // datagrams sent, all phases
	base    int64        // sent before the traffic: samples count from it
	simSent int64        // of them, the simulation's (the sender's only)
	phase   atomic.Int32
	samples []sample
}

func (r *runner) take() {
	internal := r.plugin.out.internalFields()
	cpuTicks, _ := procstat.CPUTicks(r.plugin.cmd.Process.Pid) //nolint:errcheck // 0 when unknown
	r.samples = append(r.samples, sample{
		at: time.Since(r.start), phase: int(r.phase.Load()), sent: r.sent.Load() - r.base,
		users: internal["tracked_users"], sessions: internal["tracked_sessions"],
		rssKiB: procstat.RSS(r.plugin.cmd.Process.Pid), cpuTicks: cpuTicks,
	})
}

// send sends what next gives until it has no more, sampling every second.
func (r *runner) send(next func(time.Time) ([]byte, bool)) (replay.SendResult, time.Duration, error) {
	counted := func(at time.Time) ([]byte, bool) {
		b, ok := next(at)
		if ok {
			r.sent.Add(1)
		}
		return b, ok
	}
	type sendDone struct {
		res replay.SendResult
		err error
	}
	began := time.Now()
	done := make(chan sendDone, 1)
	go func() {
		res, err := replay.Send(context.Background(), r.conn, counted, r.rate, false)
		done <- sendDone{res, err}
	}()
	r.take()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case d := <-done:
			took := time.Since(began)
			r.take()
			if d.err != nil {
				return d.res, took, fmt.Errorf("sending: %w", d.err)
			}
			return d.res, took, nil
		case <-tick.C:
			r.take()
		}
		if !r.plugin.alive() {
			return replay.SendResult{}, 0, fmt.Errorf("the plugin exited during the traffic: %s", r.plugin.stderrTail())
		}
	}
}

// settle samples every second for d.
func (r *runner) settle(d time.Duration) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); {
		<-tick.C
		r.take()
	}
}

// processed waits until the plugin has handled every datagram sent (or
// the kernel dropped it), and returns the first internal metric taken
// wholly after that: its gauges describe the state with all of them in.
func (r *runner) processed() (map[string]int64, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		<-tick.C
		if time.Since(last) >= time.Second {
			r.take()
			last = time.Now()
		}
		internal, seq := r.plugin.out.internalWithSeq()
		if internal["datagrams_received"]+internal["datagrams_dropped"] < r.sent.Load() {
			continue
		}
		// The counters are read after the gauges: the next metric is whole.
		for r.plugin.out.internalSeq() == seq {
			if !r.plugin.alive() || time.Now().After(deadline) {
				return nil, errors.New("the plugin stopped reporting")
			}
			<-tick.C
		}
		internal, _ = r.plugin.out.internalWithSeq()
		return internal, nil
	}
	return nil, fmt.Errorf("the plugin did not take the %d datagrams sent within 60 s: %s", r.sent.Load(), r.plugin.stderrTail())
}

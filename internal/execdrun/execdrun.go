// Package execdrun runs a service input the way Telegraf's shim does for
// inputs.execd (gather on a timer or on a line from stdin, stop on SIGTERM,
// SIGINT or the end of stdin, metrics in line protocol on stdout), with two
// differences that matter at high event rates: metrics are serialised as
// they are added, into one queue that the writer takes whole, in one write
// system call, instead of one per metric (under load that is one write per
// batch; when idle, each metric still leaves at once); and the input may add
// lines of line protocol it wrote itself (AddLinesWithin), which cost no
// Telegraf metric.
package execdrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
	telegraflogger "github.com/influxdata/telegraf/logger"
)

// Run runs input until SIGTERM, SIGINT or the end of stdin. input must be
// initialised (Init called, logger set), as shim.LoadConfig leaves it.
// pollInterval 0 gathers only when stdin sends a line.
func Run(input telegraf.Input, pollInterval time.Duration, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		select {
		case <-signals:
			cancel()
		case <-ctx.Done():
		}
	}()
	return runContext(ctx, cancel, input, pollInterval, stdin, stdout)
}

// runContext is Run until ctx ends (cancel ends it too); the tests call it
// without signals.
func runContext(ctx context.Context, cancel context.CancelFunc, input telegraf.Input, pollInterval time.Duration, stdin io.Reader, stdout io.Writer) error {
	queue, err := newQueue()
	if err != nil {
		return err
	}
	// The accumulator hands every metric to the queue through the maker, and
	// sends none on its channel.
	acc := boundedAccumulator{agent.NewAccumulator(queueMaker{queue}, nil), queue}
	acc.SetPrecision(time.Nanosecond)

	if service, ok := input.(telegraf.ServiceInput); ok {
		if err := service.Start(acc); err != nil {
			return fmt.Errorf("starting the input failed: %w", err)
		}
	}

	// A line on stdin asks for a gather (execd's signal = "STDIN"); its end
	// means Telegraf is gone.
	prompts := make(chan struct{}, 1)
	go func() {
		scanner := bufio.NewScanner(stdin)
		for scanner.Scan() {
			select {
			case prompts <- struct{}{}:
			default:
			}
		}
		cancel()
	}()

	go func() {
		defer queue.close()
		var tick <-chan time.Time
		if pollInterval > 0 {
			ticker := time.NewTicker(pollInterval)
			defer ticker.Stop()
			tick = ticker.C
		}
		for {
			select {
			case <-ctx.Done():
				if service, ok := input.(telegraf.ServiceInput); ok {
					service.Stop()
				}
				return
			case <-prompts:
			case <-tick:
			}
			if err := input.Gather(acc); err != nil {
				acc.AddError(err)
			}
		}
	}()

	err = write(queue, &abandoningWriter{ctx: ctx, grace: stopGrace, w: stdout})
	if err != nil {
		cancel()
		waiting, dropped := queue.abandon() // lets the input stop without blocking
		if errors.Is(err, errAbandoned) {
			logger().Warnf("Stdout took nothing for %v after the stop: abandoned its buffer, %d bytes waiting, and %d more adds", stopGrace, waiting, dropped)
			return nil
		}
	}
	return err
}

func logger() telegraf.Logger { return telegraflogger.New("", "", "") }

// stopGrace is how long, once stopping, a write to stdout may block before
// it is abandoned: a stdout nobody reads must not keep the plugin from its
// final save and its exit.
const stopGrace = 2 * time.Second

var errAbandoned = errors.New("abandoned a write to stdout that blocked after the stop")

// abandoningWriter writes to w, waiting as long as it takes until ctx ends,
// then at most grace; a write that takes longer is left to its goroutine and
// this and every later write fail with errAbandoned.
type abandoningWriter struct {
	ctx       context.Context
	grace     time.Duration
	w         io.Writer
	abandoned bool
}

type writeResult struct {
	n   int
	err error
}

func (a *abandoningWriter) Write(b []byte) (int, error) {
	if a.abandoned {
		return 0, errAbandoned
	}
	done := make(chan writeResult, 1)
	go func() {
		n, err := a.w.Write(b)
		done <- writeResult{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-a.ctx.Done():
	}
	timer := time.NewTimer(a.grace)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.n, r.err
	case <-timer.C:
		a.abandoned = true
		return 0, errAbandoned
	}
}

// boundedAccumulator is Telegraf's accumulator with AddMetricWithin and
// AddLinesWithin, which the plugin uses to write its event lines and to shed
// them when stdout takes none.
type boundedAccumulator struct {
	telegraf.Accumulator
	queue *queue
}

// AddMetricWithin queues m if there is room within wait, as AddMetric does
// (the precision is the nanosecond and the maker adds nothing).
func (a boundedAccumulator) AddMetricWithin(m telegraf.Metric, wait time.Duration) bool {
	return a.queue.addMetric(m, wait, false)
}

// AddLinesWithin queues lines, whole lines of line protocol, if there is
// room within wait; they are copied.
func (a boundedAccumulator) AddLinesWithin(lines []byte, wait time.Duration) bool {
	return a.queue.add(lines, wait, false)
}

// Coalescing: after a write of less than coalesceBytes, the writer lets
// the next lines collect for coalesceDelay. At a steady trickle (a line
// every 50 µs at 20,000 events/s) writing each line alone cost a write
// system call and two goroutine wake-ups per event; this makes it about 20
// lines per write there, for at most that much more latency. Behind (a
// large batch), it writes again at once.
const (
	coalesceDelay = time.Millisecond
	coalesceBytes = 64 << 10
)

// keepBytes is the largest buffer the writer keeps for the next lines once
// written: the summaries of a large site (user lists of 100 KB and more each
// second) would otherwise keep two buffers of their size for good.
const keepBytes = 256 << 10

// write writes what the queue takes to w, each take in one write, until the
// queue closes and is empty.
func write(queue *queue, w io.Writer) error {
	var spare []byte
	delay := time.NewTimer(coalesceDelay)
	delay.Stop()
	for {
		lines, ok := queue.take(spare)
		if !ok {
			return nil
		}
		if _, err := w.Write(lines); err != nil {
			return fmt.Errorf("writing to stdout failed: %w", err)
		}
		spare = lines
		if cap(lines) > keepBytes {
			spare = nil // a burst's (or a large summary's) buffer is not kept for good
		}
		if len(lines) < coalesceBytes {
			delay.Reset(coalesceDelay)
			select {
			case <-delay.C:
			case <-queue.stopped:
				delay.Stop()
			}
		}
	}
}

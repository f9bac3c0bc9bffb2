// Package execdrun runs a service input the way Telegraf's shim does for
// inputs.execd (gather on a timer or on a line from stdin, stop on SIGTERM,
// SIGINT or the end of stdin, metrics in line protocol on stdout), with one
// difference that matters at high event rates: metrics go to stdout through
// a buffer that is flushed whenever no further metric is waiting, instead of
// one write system call per metric. Under load that is one write per batch;
// when idle, each metric still leaves at once.
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
	"github.com/influxdata/telegraf/logger"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
)

// queueLength is how many metrics may wait for the writer; a service input
// blocks when it is full, as it would on Telegraf's own channel.
const queueLength = 10000

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
	metrics := make(chan telegraf.Metric, queueLength)
	acc := boundedAccumulator{agent.NewAccumulator(maker{logger.New("", "", "")}, metrics), metrics}
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
		defer close(metrics)
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

	err := write(metrics, &abandoningWriter{ctx: ctx, grace: stopGrace, w: stdout})
	if err != nil {
		cancel()
		dropped := 0
		for range metrics { // let the input stop without blocking
			dropped++
		}
		if errors.Is(err, errAbandoned) {
			logger.New("", "", "").Warnf("Stdout took nothing for %v after the stop: abandoned its buffer and %d more metrics", stopGrace, dropped)
			return nil
		}
	}
	return err
}

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

// boundedAccumulator is Telegraf's accumulator with AddMetricWithin, which
// the plugin uses to shed event metrics when stdout takes none.
type boundedAccumulator struct {
	telegraf.Accumulator
	metrics chan<- telegraf.Metric
}

// AddMetricWithin queues m if there is room within wait, as AddMetric does
// (the precision is the nanosecond and the maker adds nothing).
func (a boundedAccumulator) AddMetricWithin(m telegraf.Metric, wait time.Duration) bool {
	select {
	case a.metrics <- m:
		return true
	default:
	}
	if wait <= 0 {
		return false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case a.metrics <- m:
		return true
	case <-timer.C:
		return false
	}
}

// write serialises metrics to w until the channel closes, flushing whenever
// the channel is empty.
func write(metrics <-chan telegraf.Metric, w io.Writer) error {
	serializer := &influx.Serializer{}
	if err := serializer.Init(); err != nil {
		return fmt.Errorf("creating the serializer failed: %w", err)
	}
	// Small enough that under a steady flow a full buffer leaves within a
	// millisecond or so: flushing on empty alone would wait for a full one.
	out := bufio.NewWriterSize(w, 16*1024)
	for m := range metrics {
		line, err := serializer.Serialize(m)
		if err != nil {
			m.Reject()
			logger.New("", "", "").Errorf("Dropped a metric that cannot be serialised: %v", err)
			continue
		}
		if _, err := out.Write(line); err != nil {
			m.Drop()
			return fmt.Errorf("writing to stdout failed: %w", err)
		}
		m.Accept()
		if len(metrics) == 0 {
			if err := out.Flush(); err != nil {
				return fmt.Errorf("writing to stdout failed: %w", err)
			}
		}
	}
	return out.Flush()
}

// maker is the accumulator's view of the plugin, as the shim's.
type maker struct{ log telegraf.Logger }

func (maker) LogName() string                              { return "" }
func (maker) MakeMetric(m telegraf.Metric) telegraf.Metric { return m }
func (m maker) Log() telegraf.Logger                       { return m.log }

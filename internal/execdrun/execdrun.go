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
	acc := agent.NewAccumulator(maker{logger.New("", "", "")}, metrics)
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

	err := write(metrics, stdout)
	if err != nil {
		cancel()
		for range metrics { // let the input stop without blocking
		}
	}
	return err
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

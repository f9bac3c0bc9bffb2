package execdrun

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/stretchr/testify/require"
)

// fakeInput emits startMetrics metrics in Start and one per Gather.
type fakeInput struct {
	startMetrics int
	mu           sync.Mutex
	gathers      int
	stopped      bool
}

func (*fakeInput) SampleConfig() string { return "" }

func (f *fakeInput) Start(acc telegraf.Accumulator) error {
	for i := 0; i < f.startMetrics; i++ {
		acc.AddFields("start", map[string]interface{}{"i": i}, nil, time.Unix(0, int64(i)))
	}
	return nil
}

func (f *fakeInput) Gather(acc telegraf.Accumulator) error {
	f.mu.Lock()
	f.gathers++
	n := f.gathers
	f.mu.Unlock()
	acc.AddFields("gather", map[string]interface{}{"n": n}, map[string]string{"tag": "x"}, time.Unix(1, 0))
	return nil
}

func (f *fakeInput) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
}

// countingWriter records what is written and in how many calls.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	data   strings.Builder
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.data.Write(p)
}

func (w *countingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.data.String()
}

func TestGatherOnStdinLineAndStopAtItsEnd(t *testing.T) {
	input := &fakeInput{startMetrics: 1}
	stdinReader, stdinWriter := io.Pipe()
	out := &countingWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runContext(ctx, cancel, input, 0, stdinReader, out) }()

	require.Eventually(t, func() bool { return out.String() == "start i=0i 0\n" }, 5*time.Second, time.Millisecond)
	_, err := fmt.Fprintln(stdinWriter)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "gather,tag=x n=1i 1000000000\n") },
		5*time.Second, time.Millisecond, "a line on stdin must trigger a gather, and its metric must be flushed at once")

	require.NoError(t, stdinWriter.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return at the end of stdin")
	}
	require.True(t, input.stopped)
	require.Equal(t, "start i=0i 0\ngather,tag=x n=1i 1000000000\n", out.String())
}

func TestGatherOnTimer(t *testing.T) {
	input := &fakeInput{}
	stdinReader, stdinWriter := io.Pipe()
	defer stdinWriter.Close()
	out := &countingWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runContext(ctx, cancel, input, 10*time.Millisecond, stdinReader, out) }()
	require.Eventually(t, func() bool { return strings.Count(out.String(), "gather,") >= 3 }, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.True(t, input.stopped)
}

// A burst of metrics leaves in a few large writes, not one write each.
func TestBurstIsWrittenInBatches(t *testing.T) {
	const burst = 10000
	input := &fakeInput{startMetrics: burst}
	out := &countingWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runContext(ctx, cancel, input, 0, strings.NewReader(""), out) }()
	require.NoError(t, <-done) // the empty stdin ends the run
	require.Equal(t, burst, strings.Count(out.String(), "\n"))
	require.Less(t, out.writes, burst/100, "%d metrics took %d writes", burst, out.writes)
	require.True(t, strings.HasPrefix(out.String(), "start i=0i 0\nstart i=1i 1\n"), "metrics keep their order")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestStdoutGoneStopsTheRun(t *testing.T) {
	input := &fakeInput{startMetrics: 3}
	stdinReader, stdinWriter := io.Pipe()
	defer stdinWriter.Close()
	ctx, cancel := context.WithCancel(context.Background())
	err := runContext(ctx, cancel, input, 0, stdinReader, failingWriter{})
	require.ErrorContains(t, err, "writing to stdout failed")
	require.True(t, input.stopped)
}

// blockedWriter is a stdout nobody reads: every write blocks until the test
// ends.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// floodInput emits from its own goroutine, blocking as a service input's
// source does, and its Stop waits for that goroutine.
type floodInput struct {
	wg      sync.WaitGroup
	done    chan struct{}
	stopped bool
}

func (*floodInput) SampleConfig() string              { return "" }
func (*floodInput) Gather(telegraf.Accumulator) error { return nil }

func (f *floodInput) Start(acc telegraf.Accumulator) error {
	f.done = make(chan struct{})
	f.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-f.done:
				return
			default:
			}
			acc.AddFields("flood", map[string]interface{}{"i": i}, nil, time.Unix(0, int64(i)))
		}
	})
	return nil
}

func (f *floodInput) Stop() {
	close(f.done)
	f.wg.Wait()
	f.stopped = true
}

// TestStopWithBlockedStdout (issue 21, defect 12): a stdout that takes
// nothing does not keep the input from stopping nor Run from returning: the
// blocked write is abandoned stopGrace after the stop.
func TestStopWithBlockedStdout(t *testing.T) {
	w := blockedWriter{release: make(chan struct{})}
	defer close(w.release)
	input := &floodInput{}
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan error, 1)
	go func() { returned <- runContext(ctx, cancel, input, 0, strings.NewReader(""), w) }()
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(stopGrace + 3*time.Second):
		t.Fatal("runContext still running with a blocked stdout")
	}
	require.True(t, input.stopped)
}

// TestAddMetricWithin: a full queue refuses within the wait, a queue with
// room takes the metric or the lines.
func TestAddMetricWithin(t *testing.T) {
	queue, err := newQueue()
	require.NoError(t, err)
	acc := boundedAccumulator{queue: queue}
	m := metric.New("m", nil, map[string]interface{}{"v": 1}, time.Unix(0, 0))
	require.True(t, acc.AddLinesWithin(make([]byte, queueBytes), 0), "one line may fill the queue")
	require.False(t, acc.AddMetricWithin(m, 0))
	require.False(t, acc.AddLinesWithin([]byte("m v=1i 0\n"), 0))
	start := time.Now()
	require.False(t, acc.AddMetricWithin(m, 20*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	taken := make(chan []byte)
	go func() { // the add below waits for it, or finds the room it made
		lines, _ := queue.take(nil)
		taken <- lines
	}()
	require.True(t, acc.AddMetricWithin(m, 5*time.Second), "the writer's take makes room")
	require.Len(t, <-taken, queueBytes)
	require.True(t, acc.AddLinesWithin([]byte("lines v=2i 1\n"), 0))
	lines, ok := queue.take(nil)
	require.True(t, ok)
	require.Equal(t, "m v=1i 0\nlines v=2i 1\n", string(lines))
}

// lineInput adds its own lines between Telegraf metrics, as the plugin adds
// event lines between summaries.
type lineInput struct{ fakeInput }

func (*lineInput) Start(acc telegraf.Accumulator) error {
	bounded := acc.(interface {
		AddLinesWithin([]byte, time.Duration) bool
	})
	for i := range 3 {
		acc.AddFields("metric", map[string]interface{}{"i": i}, nil, time.Unix(0, int64(i)))
		if !bounded.AddLinesWithin([]byte(fmt.Sprintf("line i=%di %d\n", i, i)), time.Second) {
			return fmt.Errorf("line %d refused", i)
		}
	}
	return nil
}

// TestLinesKeepTheirOrderAmongMetrics: lines and metrics leave in the order
// they were added.
func TestLinesKeepTheirOrderAmongMetrics(t *testing.T) {
	out := &countingWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, runContext(ctx, cancel, &lineInput{}, 0, strings.NewReader(""), out))
	require.Equal(t, "metric i=0i 0\nline i=0i 0\nmetric i=1i 1\nline i=1i 1\nmetric i=2i 2\nline i=2i 2\n", out.String())
}

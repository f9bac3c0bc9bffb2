package execdrun

import (
	"fmt"
	"sync"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
)

// queueBytes is how much line protocol may wait for stdout (about 8,000
// event lines); an add finds no room beyond it until the writer takes what
// waits. One line may pass it when nothing waits, so that a summary line
// larger than that still goes out.
const queueBytes = 2 << 20

// queue is what waits for stdout: lines of line protocol in one buffer, which
// the writer takes whole and writes in one call while the next fill the
// other. Metrics are serialised as they are added (Telegraf's accumulator
// hands them over through the maker); lines that are line protocol already
// (the plugin's event lines) are copied in. All keep the order of their adds.
type queue struct {
	mu      sync.Mutex
	pending []byte
	// room is closed, and replaced, whenever the writer takes pending.
	room chan struct{}
	// ready holds a token while lines wait.
	ready chan struct{}
	// closed: no more adds come (the input stopped); gone: the writer is gone,
	// adds are dropped and counted in dropped.
	closed, gone bool
	dropped      int
	stopped      chan struct{} // closed with closed

	serializerMu sync.Mutex
	serializer   *influx.Serializer
}

func newQueue() (*queue, error) {
	serializer := &influx.Serializer{}
	if err := serializer.Init(); err != nil {
		return nil, fmt.Errorf("creating the serializer failed: %w", err)
	}
	return &queue{room: make(chan struct{}), ready: make(chan struct{}, 1), stopped: make(chan struct{}), serializer: serializer}, nil
}

// addMetric serialises m and queues it, waiting for room as long as it
// takes (forever) or within wait.
func (q *queue) addMetric(m telegraf.Metric, wait time.Duration, forever bool) bool {
	q.serializerMu.Lock()
	line, err := q.serializer.Serialize(m)
	q.serializerMu.Unlock()
	if err != nil {
		m.Reject()
		logger().Errorf("Dropped a metric that cannot be serialised: %v", err)
		return true // not for want of room
	}
	if !q.add(line, wait, forever) {
		m.Drop()
		return false
	}
	m.Accept()
	return true
}

// add copies lines into the queue if there is room, waiting for it as long
// as it takes (forever) or within wait, and says whether it did. Once the
// writer is gone, lines are dropped at once.
func (q *queue) add(lines []byte, wait time.Duration, forever bool) bool {
	var timer *time.Timer // made at the first wait
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var timeout <-chan time.Time
	q.mu.Lock()
	for len(q.pending) > 0 && len(q.pending)+len(lines) > queueBytes && !q.gone {
		room := q.room
		q.mu.Unlock()
		if !forever {
			if wait <= 0 {
				return false
			}
			if timer == nil {
				timer = time.NewTimer(wait)
				timeout = timer.C
			}
		}
		select {
		case <-room:
		case <-timeout:
			return false
		}
		q.mu.Lock()
	}
	if q.gone {
		q.dropped++
		q.mu.Unlock()
		return false
	}
	q.pending = append(q.pending, lines...)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// take waits for lines and returns them all, leaving spare (emptied) to
// collect the next; false once the queue is closed and empty.
func (q *queue) take(spare []byte) ([]byte, bool) {
	for {
		q.mu.Lock()
		if len(q.pending) > 0 {
			lines := q.pending
			q.pending = spare[:0]
			close(q.room)
			q.room = make(chan struct{})
			q.mu.Unlock()
			return lines, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-q.ready:
		case <-q.stopped:
		}
	}
}

// close says that no more adds come.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	close(q.stopped)
}

// abandon drops what waits and every later add (the writer is gone), waits
// for close, and says how many bytes waited and how many adds followed.
func (q *queue) abandon() (waiting, dropped int) {
	q.mu.Lock()
	q.gone = true
	waiting = len(q.pending)
	q.pending = nil
	close(q.room) // wake the adds that wait: they drop
	q.room = make(chan struct{})
	q.mu.Unlock()
	<-q.stopped
	q.mu.Lock()
	defer q.mu.Unlock()
	return waiting, q.dropped
}

// queueMaker is the accumulator's view of the plugin, as the shim's, except
// that it queues each metric the accumulator makes (returning none for the
// accumulator's channel): the accumulator's metrics and the plugin's own
// lines then share one queue and keep their order.
type queueMaker struct{ queue *queue }

func (queueMaker) LogName() string      { return "" }
func (queueMaker) Log() telegraf.Logger { return logger() }
func (m queueMaker) MakeMetric(metric telegraf.Metric) telegraf.Metric {
	m.queue.addMetric(metric, 0, true)
	return nil
}

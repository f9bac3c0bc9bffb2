package shimlog

import (
	"bytes"
	"runtime"
	"sync"
	"testing"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/logger"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logToBuffer sends the log at level to a buffer until the test ends.
func logToBuffer(t *testing.T, level telegraf.LogLevel) *syncBuffer {
	t.Helper()
	var out syncBuffer
	remove, err := Setup(&out, level)
	require.NoError(t, err)
	t.Cleanup(remove)
	return &out
}

func TestSetupWritesExecdLines(t *testing.T) {
	out := logToBuffer(t, telegraf.Info)
	log := logger.New("", "", "")
	log.Error("socket gone")
	log.Warnf("dropped %d datagrams", 3)
	log.Info("listening\non two lines")
	log.Debug("not shown at info level")
	logger.New("inputs", "qliksense_sessions", "").Info("with a source")

	require.Equal(t, "E! socket gone\n"+
		"W! dropped 3 datagrams\n"+
		"I! listening on two lines\n"+
		"I! [inputs.qliksense_sessions] with a source\n", out.String())
}

func TestSetupDebugLevel(t *testing.T) {
	out := logToBuffer(t, telegraf.Debug)
	logger.New("", "", "").Debug("details")
	require.Equal(t, "D! details\n", out.String())
}

func TestFormat(t *testing.T) {
	tests := []struct {
		level  telegraf.LogLevel
		source string
		msg    string
		want   string
	}{
		{telegraf.Error, "", "boom", "E! boom\n"},
		{telegraf.Warn, "src", "a\r\nb", "W! [src] a b\n"},
		{telegraf.Trace, "", "x\ry", "T! x y\n"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Format(tt.level, tt.source, tt.msg))
	}
}

// The shim's default handler keeps every message logged before SetupLogging
// in a list for ever; after Setup, a long-running plugin's logging must not
// grow the heap.
func TestSetupDoesNotKeepMessages(t *testing.T) {
	out := logToBuffer(t, telegraf.Error)
	log := logger.New("", "", "")
	heap := func() uint64 {
		runtime.GC() //nolint:revive // call-to-gc: the heap measured is what stays live, so garbage goes first
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	const messages = 200000
	for i := 0; i < messages; i++ {
		log.Info("a message that is filtered out but used to be kept in memory")
	}
	after := heap()
	// Kept entries cost well over 100 bytes each (20 MB here); allow 2 MB of noise.
	require.Less(t, int64(after)-int64(before), int64(2<<20), "the logger kept messages in memory")
	require.Empty(t, out.String())
}

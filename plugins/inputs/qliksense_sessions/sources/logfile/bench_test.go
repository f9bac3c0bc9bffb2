package logfile

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

const benchUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// writeBenchFile writes about size bytes of a proxy audit activity log as
// the parser's BenchmarkFile does: a day of 2,000 users on 3 proxies
// (starts, connections with user agents, stops, failed starts, other
// commands), CR LF line ends; seed picks the rows. It returns the number of
// data rows.
func writeBenchFile(tb testing.TB, path string, size int, seed uint64) int {
	f, err := os.Create(path)
	require.NoError(tb, err)
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(12, seed))
	written, err := w.WriteString(header)
	require.NoError(tb, err)
	at := t0
	hosts := []string{"qs-proxy-01.corp.example.com", "qs-proxy-02.corp.example.com", "qs-proxy-03.corp.example.com"}
	rows := 0
	for seq := 1; written < size; seq++ {
		at = at.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		user := fmt.Sprintf("user%04d", rng.IntN(2000))
		sid := fmt.Sprintf("%08x-7d35-4c38-a7a2-%012x", rng.Uint32(), rng.Uint64()&(1<<48-1))
		host := hosts[rng.IntN(len(hosts))]
		app := fmt.Sprintf("/app/%08x-3e4f-4a5b-8c7d-9e0f1a2b3c4d", rng.IntN(50))
		command, result, qlikContext, message := "", "0", "/hub/", ""
		switch k := rng.IntN(20); {
		case k < 4:
			command, message = "Start session", "Start session for user 'CORP\\"+user+"'"
		case k < 8:
			command, message = "Stop session", "Stop session for user 'CORP\\"+user+"'"
		case k < 13:
			command, qlikContext = "Open connection", app+"?reloadUri=https://"+host+"/sense"+app
			message = "connection Opened for session '" + sid + "'; UserAgent: '" + benchUserAgent + "'"
		case k < 18:
			command, qlikContext, message = "Close connection", app, "connection Closed for session '"+sid+"'"
		case k < 19:
			command, result, message = "Start session", "403", "Access denied"
		default:
			command, message = "Login", "Internal system command"
		}
		n, _ := fmt.Fprintf(w,
			"%d\t13.21.1.0\t%s\t%s\t%08x-1b2c-4d5e-8f90-%012x\tCommand=%s;Result=%s;"+
				"ResultText=Success\t%s\t0\t0\tCORP\t%s\tNot available\tNot available\tProxy\tAppAccess\t%s\t%s\t%s\t%s\t%08x\r\n",
			seq, at.Format("20060102T150405.000-0700"), host, seq, seq*7919, command, result, sid, user, qlikContext, command, result, message, seq)
		written += n
		rows++
	}
	require.NoError(tb, w.Flush())
	require.NoError(tb, f.Close())
	return rows
}

// rebuildOnce runs a Source over cfg until it has rebuilt, and returns how
// many rows it delivered.
func rebuildOnce(tb testing.TB, cfg Config, handle func(Row)) int {
	src, err := New(cfg)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-src.Rebuilt()
		cancel()
	}()
	n := 0
	require.NoError(tb, src.Run(ctx, func(r Row) {
		n++
		handle(r)
	}))
	return n
}

// BenchmarkRebuild reads an 8 MB log at start, as after a restart: the
// issue's target is 250,000 rows/s on two cores (run with -cpu 2). source
// is the source alone; with_state also applies each event to a State as the
// plugin does; three_servers is the source merging three servers' files of
// 8 MB in all, whose rows interleave in time.
func BenchmarkRebuild(b *testing.B) {
	const size = 8 << 20
	dir := b.TempDir()
	path := filepath.Join(dir, "QS-PROXY-01_AuditActivity_Proxy.txt")
	rows := writeBenchFile(b, path, size, 2026)
	three := filepath.Join(dir, "three")
	require.NoError(b, os.Mkdir(three, 0o750))
	var threeRows int
	for i := range 3 {
		threeRows += writeBenchFile(b, filepath.Join(three, fmt.Sprintf("QS-PROXY-%02d_AuditActivity_Proxy.txt", i+1)), size/3, uint64(i))
	}

	for _, bc := range []struct {
		name  string
		state bool
		cfg   Config
		rows  int
	}{
		{"source", false, Config{Files: []string{path}}, rows},
		{"with_state", true, Config{Files: []string{path}}, rows},
		{"three_servers", false, Config{Files: []string{filepath.Join(three, "*.txt")}}, threeRows},
	} {
		cfg, rows := bc.cfg, bc.rows
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			var elapsed time.Duration
			for b.Loop() {
				st := state.New(state.Config{ReorderWindow: state.DefaultReorderWindow})
				handle := func(Row) {}
				if bc.state {
					handle = func(r Row) {
						if r.Event != nil {
							st.Apply(r.Event, r.Event.Time)
						}
					}
				}
				start := time.Now()
				n := rebuildOnce(b, cfg, handle)
				elapsed += time.Since(start)
				if n != rows {
					b.Fatalf("read %d rows, wrote %d", n, rows)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(rows*b.N), "ns/row")
			b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/file")
			b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
		})
	}
}

// TestRebuildSpeed holds the floor: a full 8 MB file in well under
// a second, at least 250,000 rows/s (the benchmark reports the real rate).
func TestRebuildSpeed(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing")
	}
	path := filepath.Join(t.TempDir(), "QS-PROXY-01_AuditActivity_Proxy.txt")
	rows := writeBenchFile(t, path, 8<<20, 2026)
	best := time.Hour
	for range 3 {
		start := time.Now()
		require.Equal(t, rows, rebuildOnce(t, Config{Files: []string{path}}, func(Row) {}))
		best = min(best, time.Since(start))
	}
	rate := float64(rows) / best.Seconds()
	t.Logf("8 MB, %d rows in %s: %.0f rows/s", rows, best, rate)
	require.Greater(t, rate, 250_000.0)
}

// Memory grows with open sessions, never with rows read: a million rows of
// one user's sessions, each started and stopped, through the source and a
// State, leave the heap where it was after the first hundred thousand.
func TestMemoryDoesNotGrowWithRows(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 70 MB file")
	}
	total := 1_000_000
	if raceEnabled {
		total = 200_000
	}
	path := filepath.Join(t.TempDir(), "SENSE1_AuditActivity_Proxy.txt")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	_, err = w.WriteString("Timestamp\tHostname\tProxySessionId\tUserDirectory\tUserId\tCommand\r\n")
	require.NoError(t, err)
	for i := range total {
		cmd := "Start session"
		if i%2 == 1 {
			cmd = "Stop session"
		}
		at := t0.Add(time.Duration(i) * time.Second)
		fmt.Fprintf(w, "%s\tSENSE1\t%08x-0000-4000-8000-000000000000\tLAB\tanna\t%s\r\n", at.Format("20060102T150405.000-0700"), i/2, cmd)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())

	st := state.New(state.Config{ReorderWindow: state.DefaultReorderWindow})
	var heaps []uint64
	measure := func() {
		runtime.GC() //nolint:revive // call-to-gc: the test measures the live heap
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		heaps = append(heaps, m.HeapAlloc)
	}
	n := 0
	got := rebuildOnce(t, Config{Files: []string{path}}, func(r Row) {
		require.Equal(t, event.Accepted, r.Status)
		st.Apply(r.Event, r.Event.Time)
		n++
		if n%1000 == 0 {
			st.TakeChanges()
		}
		if n%(total/10) == 0 {
			measure()
		}
	})
	require.Equal(t, total, got)
	require.Equal(t, 0, st.ActiveSessions())
	t.Logf("heap after each tenth of %d rows: %v", total, heaps)
	first, last := heaps[0], slices.Max(heaps[1:])
	require.Less(t, int64(last)-int64(first), int64(256<<10), "the heap grew with rows read: %v", heaps)
}

// The time from a row's write to its handler call while following, with
// the default poll interval (the issue: within 1 s to stdout).
func TestTailLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	latencies := measureTailLatency(t, DefaultPollInterval, 8)
	t.Logf("append to handler, poll_interval %s: %v", DefaultPollInterval, latencies)
	require.Less(t, slices.Max(latencies), time.Second)
}

// BenchmarkTailLatency reports the time from a row's write to its handler
// call while following (median, 90th percentile and max, in ms), for the
// default poll interval and a faster one.
func BenchmarkTailLatency(b *testing.B) {
	for _, poll := range []time.Duration{DefaultPollInterval, 50 * time.Millisecond} {
		b.Run(poll.String(), func(b *testing.B) {
			var all []time.Duration
			for b.Loop() {
				all = append(all, measureTailLatency(b, poll, 1)...)
			}
			slices.Sort(all)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(all[len(all)/2]), "p50_ms")
			b.ReportMetric(ms(all[len(all)*9/10]), "p90_ms")
			b.ReportMetric(ms(all[len(all)-1]), "max_ms")
		})
	}
}

// measureTailLatency follows a file and appends n rows, each at a random
// moment of the poll cycle, and returns how long each took to reach the
// handler.
func measureTailLatency(tb testing.TB, poll time.Duration, n int) []time.Duration {
	path := filepath.Join(tb.TempDir(), "SENSE1_AuditActivity_Proxy.txt")
	writeFile(tb, path, header)
	src, err := New(Config{Files: []string{path}, PollInterval: poll})
	require.NoError(tb, err)
	arrived := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := src.Run(ctx, func(Row) { arrived <- time.Now() }); err != nil {
			tb.Error(err)
		}
	}()
	defer func() {
		cancel()
		<-done
	}()
	<-src.Rebuilt()
	var out []time.Duration
	for i := range n {
		// Pacing, not synchronisation: spread the writes over the cycle.
		time.Sleep(time.Duration(rand.Int64N(int64(poll))))
		written := time.Now()
		appendFile(tb, path, row(i+1, "SENSE1", "Start session", "anna"))
		select {
		case at := <-arrived:
			out = append(out, at.Sub(written))
		case <-time.After(10 * time.Second):
			tb.Fatal("the row did not arrive")
		}
	}
	return out
}

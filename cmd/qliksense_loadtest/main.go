// Command qliksense_loadtest measures the intake over loopback at rising
// rates: the replay tool sends stamped log4net datagrams, and for each rate
// it runs a minimal UDP reader (the physical limit of this machine), the
// plugin binary alone (stdout read by this tool), and the plugin under the
// real Telegraf (outputs.file to stdout). It prints a Markdown table: events
// sent and accepted, lost, CPU, peak RSS, and datagram-to-stdout latency.
// CPU and peak RSS come from /proc, so only on Linux; elsewhere the table
// says "n/a" and a note below it says why.
//
//	qliksense_loadtest -bin ./bin -rates 10000,50000,100000,200000 -duration 10s
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/loopback"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/procstat"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/version"
)

func main() {
	bin := flag.String("bin", "bin", "folder with qliksense_sessions, qliksense_replay and telegraf")
	rates := flag.String("rates", "10000,50000,100000,200000", "comma-separated send rates, events/s")
	duration := flag.Duration("duration", 10*time.Second, "how long each rate is sent")
	users := flag.Int("users", 20000, "simulated users: the size of the user lists every summary carries")
	modes := flag.String("modes", "reader,plugin,telegraf,telegraf-summaries",
		"what to measure: reader (minimal UDP reader), plugin (binary alone), telegraf (under Telegraf), "+
			"telegraf-upstream (under Telegraf, inputs.execd with influx_parser_type = \"upstream\"), "+
			"telegraf-summaries (under Telegraf with emit_events = false)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	var err error
	if len(os.Args) > 2 && os.Args[1] == "-reader" {
		err = minimalReader(os.Args[2])
	} else {
		flag.Parse()
		if *showVersion {
			fmt.Println(version.String("qliksense_loadtest"))
			return
		}
		err = run(*bin, *rates, *modes, *duration, *users)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "qliksense_loadtest:", err)
		os.Exit(1)
	}
}

// run measures each of modes (comma-separated) at each of rates.
func run(bin, rates, modes string, duration time.Duration, users int) error {
	dir, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	fmt.Printf("| target | rate (ev/s) | sent | accepted | lost | achieved (ev/s) | CPU (%% of a core) | peak RSS (MiB) | latency p50 | latency p99 |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range strings.Split(rates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || rate <= 0 {
			return fmt.Errorf("bad rate %q", r)
		}
		for _, mode := range strings.Split(modes, ",") {
			res, err := measure(dir, strings.TrimSpace(mode), rate, duration, users)
			if err != nil {
				return fmt.Errorf("%s at %d ev/s: %w", mode, rate, err)
			}
			fmt.Println(res.row())
		}
	}
	if !procstat.Available {
		fmt.Printf("\nCPU and peak RSS: not measured on %s (this tool reads them from Linux's /proc).\n", runtime.GOOS)
	}
	return nil
}

type result struct {
	target             string
	rate, sent, got    int
	elapsed            time.Duration
	cpuPercent, rssMiB float64
	p50, p99           time.Duration
	latencies          bool
}

func (r result) row() string {
	lat50, lat99 := "–", "–"
	if r.latencies {
		lat50, lat99 = fmtDuration(r.p50), fmtDuration(r.p99)
	}
	cpu, rss := "n/a", "n/a"
	if procstat.Available {
		cpu, rss = fmt.Sprintf("%.0f", r.cpuPercent), fmt.Sprintf("%.0f", r.rssMiB)
	}
	return fmt.Sprintf("| %s | %d | %d | %d | %d | %.0f | %s | %s | %s | %s |",
		r.target, r.rate, r.sent, r.got, r.sent-r.got, float64(r.got)/r.elapsed.Seconds(), cpu, rss, lat50, lat99)
}

func fmtDuration(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// measure runs one target at one rate.
func measure(bin, mode string, rate int, duration time.Duration, users int) (result, error) {
	port, err := loopback.FreeUDPPort()
	if err != nil {
		return result{}, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	work, err := os.MkdirTemp("", "qss-load-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(work)

	var cmd *exec.Cmd
	var ready string
	switch mode {
	case "reader":
		self, err := os.Executable()
		if err != nil {
			return result{}, err
		}
		cmd = exec.Command(self, "-reader", addr)
		ready = "ready"
	case "plugin", "telegraf", "telegraf-upstream", "telegraf-summaries":
		conf := filepath.Join(work, "qliksense_sessions.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[[inputs.qliksense_sessions]]
  service_address = "udp://%s"
  read_buffer_size = "32MiB"
  event_message = true
  emit_events = %t
  summary_interval = "1s"
`, addr, mode != "telegraf-summaries")), 0o600); err != nil {
			return result{}, err
		}
		ready = "Listening for log4net datagrams"
		if mode == "plugin" {
			cmd = exec.Command(filepath.Join(bin, "qliksense_sessions"), "-config", conf, "-poll_interval", "1s")
		} else {
			parser := ""
			if mode == "telegraf-upstream" {
				parser = "\n  influx_parser_type = \"upstream\""
			}
			tconf := filepath.Join(work, "telegraf.conf")
			if err := os.WriteFile(tconf, []byte(fmt.Sprintf(`[agent]
  interval = "1s"
  flush_interval = "100ms"
  flush_jitter = "0s"
  metric_batch_size = 10000
  metric_buffer_limit = 10000000
  omit_hostname = true
[[inputs.execd]]
  command = [%q, "-config", %q, "-poll_interval", "1s"]
  signal = "none"
  data_format = "influx"%s
[[outputs.file]]
  files = ["stdout"]
  data_format = "influx"
`, filepath.Join(bin, "qliksense_sessions"), conf, parser)), 0o600); err != nil {
				return result{}, err
			}
			cmd = exec.Command(filepath.Join(bin, "telegraf"), "--config", tconf)
		}
	default:
		return result{}, fmt.Errorf("unknown mode %q", mode)
	}

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return result{}, err
	}
	stdin, err := cmd.StdinPipe() // the shim stops when its stdin closes
	if err != nil {
		return result{}, err
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			cmd.Process.Kill() //nolint:errcheck // Windows has no SIGTERM
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }() //nolint:errcheck // stopping
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // best effort
		}
	}()

	// The reader prints its counts on stdout; the plugin targets print metrics.
	sink := newSink()
	go sink.consume(stdout, mode == "reader")
	readyCh := make(chan struct{})
	go watchFor(stderr, ready, readyCh)
	select {
	case <-readyCh:
	case <-time.After(60 * time.Second):
		return result{}, errors.New("target did not become ready")
	}

	cpuBefore, err := procstat.TreeCPUTicks(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	events := int(float64(rate) * duration.Seconds())
	start := time.Now()
	replay := exec.Command(filepath.Join(bin, "qliksense_replay"), "-addr", addr, "-users", strconv.Itoa(users), "-servers", "10",
		"-events", strconv.Itoa(events), "-rate", strconv.Itoa(rate), "-stamp", "-seed", "1", "-expect", os.DevNull)
	if out, err := replay.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("replay: %w: %s", err, out)
	}
	sendTime := time.Since(start)
	// Drain: wait until nothing more arrives for a second.
	last, lastChange := sink.count(mode), time.Now()
	for time.Since(lastChange) < time.Second && time.Since(start) < duration+time.Minute {
		time.Sleep(100 * time.Millisecond)
		if n := sink.count(mode); n != last {
			last, lastChange = n, time.Now()
		}
	}
	cpuAfter, err := procstat.TreeCPUTicks(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	busy := time.Since(start) - time.Since(lastChange)
	res := result{
		target: map[string]string{"reader": "minimal UDP reader", "plugin": "plugin alone", "telegraf": "plugin under Telegraf",
			"telegraf-upstream": "under Telegraf, upstream parser", "telegraf-summaries": "under Telegraf, emit_events = false"}[mode],
		rate:       rate,
		sent:       events,
		got:        last,
		elapsed:    max(sendTime, time.Millisecond),
		cpuPercent: float64(cpuAfter-cpuBefore) / procstat.ClockTicks / busy.Seconds() * 100,
		rssMiB:     procstat.TreePeakRSS(cmd.Process.Pid) / 1024,
	}
	if mode == "plugin" || mode == "telegraf" || mode == "telegraf-upstream" {
		res.p50, res.p99 = sink.percentiles()
		res.latencies = true
	}
	return res, nil
}

func watchFor(r io.Reader, text string, found chan struct{}) {
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		if found != nil && strings.Contains(scanner.Text(), text) {
			close(found)
			found = nil
		}
	}
}

// sink counts what a target writes to stdout.
type sink struct {
	events   atomic.Int64
	received atomic.Int64 // the minimal reader's own count
	accepted atomic.Int64 // events_accepted of the last qliksense_sessions_internal
	mu       sync.Mutex
	latency  []time.Duration
}

func newSink() *sink { return &sink{} }

func (s *sink) count(mode string) int {
	switch mode {
	case "reader":
		return int(s.received.Load())
	case "telegraf-summaries":
		return int(s.accepted.Load())
	}
	return int(s.events.Load())
}

func (s *sink) consume(r io.Reader, reader bool) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		if reader {
			if n, err := strconv.ParseInt(string(line), 10, 64); err == nil {
				s.received.Store(n)
			}
			continue
		}
		if strings.HasPrefix(string(line[:min(len(line), 27)]), "qliksense_sessions_internal") {
			if n, ok := intAfter(line, "events_accepted="); ok {
				s.accepted.Store(n)
			}
			continue
		}
		if !strings.HasPrefix(string(line[:min(len(line), 23)]), "qliksense_session_event") {
			continue
		}
		now := time.Now()
		s.events.Add(1)
		if ns, ok := intAfter(line, "sent="); ok {
			s.mu.Lock()
			s.latency = append(s.latency, now.Sub(time.Unix(0, ns)))
			s.mu.Unlock()
		}
	}
}

// intAfter reads the decimal number that follows key in line.
func intAfter(line []byte, key string) (int64, bool) {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return 0, false
	}
	digits := line[i+len(key):]
	end := 0
	for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(string(digits[:end]), 10, 64)
	return n, err == nil
}

func (s *sink) percentiles() (p50, p99 time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.latency) == 0 {
		return 0, 0
	}
	slices.Sort(s.latency)
	return s.latency[len(s.latency)/2], s.latency[len(s.latency)*99/100]
}

// minimalReader counts datagrams and prints the count every 100ms: the
// least any UDP consumer can do, with the plugin's receive buffer.
func minimalReader(addr string) error {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return err
	}
	conn.SetReadBuffer(32 << 20) //nolint:errcheck // as large as the OS allows
	var n atomic.Int64
	go func() {
		for {
			time.Sleep(100 * time.Millisecond)
			fmt.Println(n.Load())
		}
	}()
	fmt.Fprintln(os.Stderr, "ready")
	buf := make([]byte, 65536)
	for {
		if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
			return nil //nolint:nilerr // the reader ends quietly with its socket; the counts it printed are its output
		}
		n.Add(1)
	}
}

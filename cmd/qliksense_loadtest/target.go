package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/loopback"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/procstat"
)

// targetNames name the targets in the tables.
var targetNames = map[string]string{
	"reader":                 "minimal Go UDP reader",
	"socket_listener":        "Telegraf inputs.socket_listener → outputs.file",
	"plugin":                 "plugin alone",
	"telegraf":               "plugin under Telegraf inputs.execd → outputs.file",
	"telegraf-influx-parser": "under Telegraf, default influx parser",
	"telegraf-summaries":     "under Telegraf, emit_events = false",
	"baseline-plugin":        "baseline: plugin alone",
	"baseline-telegraf":      "baseline: plugin under Telegraf",
}

// socketListenerName is the measurement socket_listener's lines get.
const socketListenerName = "loadtest_datagram"

// telegrafAgent is the agent block of every Telegraf target.
const telegrafAgent = `[agent]
  interval = "1s"
  flush_interval = "100ms"
  flush_jitter = "0s"
  metric_batch_size = 10000
  metric_buffer_limit = 10000000
  omit_hostname = true
[[outputs.file]]
  files = ["stdout"]
  data_format = "influx"
`

// command is how a target starts on addr (files go to work), and the line
// on its stderr that says it listens.
func command(opts *options, target, addr, work string) (cmd *exec.Cmd, ready string, err error) {
	telegraf := func(input string) (*exec.Cmd, error) {
		conf := filepath.Join(work, "telegraf.conf")
		if err := os.WriteFile(conf, []byte(telegrafAgent+input), 0o600); err != nil {
			return nil, err
		}
		return exec.Command(filepath.Join(opts.bin, "telegraf"), "--config", conf), nil
	}
	switch target {
	case "reader":
		self, err := os.Executable()
		if err != nil {
			return nil, "", err
		}
		return exec.Command(self, "-reader", addr), "ready", nil
	case "socket_listener":
		cmd, err := telegraf(fmt.Sprintf(`[[inputs.socket_listener]]
  service_address = "udp://%s"
  read_buffer_size = "32MiB"
  data_format = "value"
  data_type = "string"
  name_override = %q
`, addr, socketListenerName))
		return cmd, "Listening on udp://", err
	}
	conf := filepath.Join(work, "qliksense_sessions.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[[inputs.qliksense_sessions]]
  service_address = "udp://%s"
  read_buffer_size = "32MiB"
  event_message = true
  emit_events = %t
  summary_interval = "1s"
`, addr, target != "telegraf-summaries")), 0o600); err != nil {
		return nil, "", err
	}
	ready = "Listening for log4net datagrams"
	plugin := filepath.Join(opts.bin, "qliksense_sessions")
	if base, found := strings.CutPrefix(target, "baseline-"); found {
		plugin, target = filepath.Join(opts.baseline, "qliksense_sessions"), base
	}
	if target == "plugin" {
		return exec.Command(plugin, "-config", conf, "-poll_interval", "1s"), ready, nil
	}
	parser := "\n  influx_parser_type = \"upstream\""
	if target == "telegraf-influx-parser" {
		parser = ""
	}
	cmd, err = telegraf(fmt.Sprintf(`[[inputs.execd]]
  command = [%q, "-config", %q, "-poll_interval", "1s"]
  signal = "none"
  data_format = "influx"%s
`, plugin, conf, parser))
	return cmd, ready, err
}

// measure runs one target at one rate.
func measure(opts *options, target string, rate int) (result, error) {
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
	cmd, ready, err := command(opts, target, addr, work)
	if err != nil {
		return result{}, err
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
	defer stop(cmd)

	// The reader prints its counts on stdout; the others print metrics.
	sink := newSink()
	go sink.consume(stdout, target)
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
	events := int(float64(rate) * opts.duration.Seconds())
	start := time.Now()
	replay := exec.Command(filepath.Join(opts.bin, "qliksense_replay"), "-addr", addr, "-users", strconv.Itoa(opts.users),
		"-servers", strconv.Itoa(opts.servers), "-events", strconv.Itoa(events), "-rate", strconv.Itoa(rate), "-stamp", "-seed", "1", "-expect", os.DevNull)
	if out, err := replay.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("replay: %w: %s", err, out)
	}
	sendTime := time.Since(start)
	// Drain: wait until nothing more arrives for a second.
	last, lastChange := sink.count(target), time.Now()
	for time.Since(lastChange) < time.Second && time.Since(start) < opts.duration+time.Minute {
		time.Sleep(100 * time.Millisecond)
		if n := sink.count(target); n != last {
			last, lastChange = n, time.Now()
		}
	}
	cpuAfter, err := procstat.TreeCPUTicks(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	res := result{
		target:     target,
		rate:       rate,
		sent:       events,
		got:        last,
		elapsed:    max(sendTime, time.Millisecond),
		cpuSeconds: float64(cpuAfter-cpuBefore) / procstat.ClockTicks,
		busy:       max(time.Since(start)-time.Since(lastChange), time.Millisecond),
		rssMiB:     procstat.TreePeakRSS(cmd.Process.Pid) / 1024,
	}
	if target != "reader" && target != "telegraf-summaries" {
		res.p50, res.p99 = sink.percentiles()
		res.latencies = true
	}
	return res, nil
}

// stop ends a target: SIGTERM, and a kill if it has not ended 10s later.
func stop(cmd *exec.Cmd) {
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

func (s *sink) count(target string) int {
	switch target {
	case "reader":
		return int(s.received.Load())
	case "telegraf-summaries":
		return int(s.accepted.Load())
	}
	return int(s.events.Load())
}

func (s *sink) consume(r io.Reader, target string) {
	reader, events := target == "reader", []byte("qliksense_session_event")
	if target == "socket_listener" {
		events = []byte(socketListenerName)
	}
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
		if bytes.HasPrefix(line, []byte("qliksense_sessions_internal")) {
			if n, ok := intAfter(line, "events_accepted="); ok {
				s.accepted.Store(n)
			}
			continue
		}
		if !bytes.HasPrefix(line, events) {
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

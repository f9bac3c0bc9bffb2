// Command qliksense_replay sends Qlik Sense session traffic as log4net UDP
// datagrams, simulated or recorded, or writes it as the proxies' audit
// activity log files, and prints the active set the plugin must show
// afterwards (JSON, see replay.Expected).
//
//	qliksense_replay -addr 127.0.0.1:9997 -users 500 -servers 3 -events 20000 -rate 2000
//	qliksense_replay -addr 127.0.0.1:9997 -file testdata/sample-day.txt
//	qliksense_replay -users 300 -events 6000 -out recorded.txt
//	qliksense_replay -logdir /tmp/audit -events 20000 -rotate-bytes 1MB -start-time 2026-02-25T08:00:00+01:00
//	qliksense_replay -logdir /tmp/audit -events 600 -rate 20   (paced: a tailer sees each row as it is written)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/loopback"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/version"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "qliksense_replay:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("qliksense_replay", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:9997", "UDP host:port to send to (the plugin's service_address)")
	users := flags.Int("users", 50, "simulated users")
	directories := flags.Int("directories", 2, "user directories the users are spread over (1-8)")
	servers := flags.Int("servers", 3, "proxy servers (SENSE1, SENSE2, ...)")
	events := flags.Int("events", 1000, "events to simulate")
	seed := flags.Uint64("seed", 1, "random seed: the same seed gives the same traffic")
	format := flags.String("format", "sos", "payload format: sos (Butler SOS), butler (Butler 5-6) or legacy (Butler 1-4)")
	rate := flags.Float64("rate", 0, "events per second; 0 sends as fast as possible")
	file := flags.String("file", "", "send the recorded payloads of this file (one per line, # comments) instead of simulating")
	out := flags.String("out", "", "write the payloads to this file instead of sending them")
	expect := flags.String("expect", "-", "where to write the expected active set as JSON (- for stdout)")
	stamp := flags.Bool("stamp", false, "append ' sent=<Unix ns>' to each message, for latency measurements (sos and butler)")
	race := flags.Float64("race", 0.05, "share of new sessions sent out of order, as log4net's two appenders do: "+
		"the first connection before the Start, or a short session's Stop before its Start (0-1)")
	preexisting := flags.Int("preexisting", 0, "sessions that began before the plugin listened: no Start is sent, their connections show them")
	exclude := flags.String("exclude", "", "comma-separated DIR\\user service accounts: ~5% of events are theirs, and they are not expected "+
		"(configure exclude_users to match)")
	var lf logFlags
	flags.StringVar(&lf.dir, "logdir", "", "write Qlik Sense proxy audit activity log files (<HOST>_AuditActivity_Proxy.txt, "+
		"rotated to <HOST>_AuditActivity_Proxy_<time>Z.log) into this folder instead of sending UDP; created if missing")
	flags.StringVar(&lf.rotateBytes, "rotate-bytes", "8MB", "with -logdir: rotate a host's file when a row would take it past this size "+
		"(bytes, or with KB, MB: 1024-based, as Qlik's 8 MB); 0 never")
	flags.DurationVar(&lf.rotateAge, "rotate-age", 0, "with -logdir: rotate a host's file once its first row is this much older on the simulated clock "+
		"(Qlik: 12h); 0 never")
	flags.StringVar(&lf.startTime, "start-time", "", "with -logdir: the simulated clock's start, RFC 3339 (2026-02-25T08:15:12.123+01:00) "+
		"or Qlik's 20260225T081512.123+0100; the rows carry its offset (default: now, local time)")
	flags.Float64Var(&lf.clockRate, "clock-rate", 0, "with -logdir: events per second of the simulated clock (default: -rate, or 10 when -rate is 0)")
	flags.Float64Var(&lf.noise, "noise", 0.05, "with -logdir: share of events that get a row before them the plugin must ignore: "+
		"other commands, failed ones (Result not 0), API calls (0-1)")
	freePort := flags.Bool("free-port", false, "print a loopback UDP port that is free now and exit (for scripts)")
	showVersion := flags.Bool("version", false, "print the version and exit")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, version.String("qliksense_replay"))
		return err
	}
	if *freePort {
		return printFreePort(stdout)
	}
	set := make(map[string]bool)
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var logs *logOptions
	if lf.dir != "" {
		for _, other := range []string{"file", "out", "stamp", "addr"} {
			if set[other] {
				return fmt.Errorf("-logdir writes log files of the simulation: -%s does not go with it", other)
			}
		}
		var err error
		if logs, err = parseLogOptions(&lf, *rate, *seed); err != nil {
			return err
		}
		if !set["race"] {
			*race = 0 // one file appender writes the events in order
		}
	} else {
		for _, name := range []string{"rotate-bytes", "rotate-age", "start-time", "clock-rate", "noise"} {
			if set[name] {
				return fmt.Errorf("-%s goes with -logdir", name)
			}
		}
	}

	var next func(stamp time.Time) ([]byte, bool)
	var expected func(sent int) replay.Expected
	if *file != "" {
		payloads, err := readPayloads(*file)
		if err != nil {
			return err
		}
		next = replay.NextOf(payloads)
		expected = func(sent int) replay.Expected { return replay.ExpectFromPayloads(payloads[:sent], *rate) }
	} else {
		cfg := replay.SimConfig{Users: *users, Directories: *directories, Servers: *servers, Events: *events, Seed: *seed, Format: *format,
			Race: *race, Preexisting: *preexisting, WindowEvents: replay.WindowEvents(*rate)}
		if logs != nil {
			// The plugin reads the rows' own times: its reorder window
			// spans events on the simulated clock.
			cfg.WindowEvents = replay.WindowEvents(logs.clock.Rate)
		}
		if *exclude != "" {
			cfg.Exclude = strings.Split(*exclude, ",")
		}
		sim, err := replay.NewSimulation(cfg)
		if err != nil {
			return err
		}
		if logs != nil {
			logs.sim = sim
		}
		var buf []byte
		next = func(at time.Time) ([]byte, bool) {
			ev, ok := sim.Next()
			if !ok {
				return nil, false
			}
			buf, _ = replay.AppendPayload(buf[:0], *format, &ev, at) //nolint:errcheck // NewSimulation checked the format, its only error
			return buf, true
		}
		expected = func(int) replay.Expected { return sim.Expected() }
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	var sent int
	var err error
	switch {
	case logs != nil:
		var stats replay.LogStats
		stats, err = writeLogs(ctx, logs, *rate)
		sent = stats.Events
		elapsed := time.Since(start)
		fmt.Fprintf(stderr, "wrote %d events (and %d rows to ignore) to %s in %s (%.0f events/s): %d files started, %d rotated, %d bytes; clock %s to %s\n",
			stats.Events, stats.IgnoredRows, logs.dir, elapsed.Round(time.Millisecond), float64(stats.Events)/max(elapsed.Seconds(), 1e-9),
			stats.Files, stats.Rotations, stats.Bytes,
			logs.clock.Start.Format(replay.TimestampLayout), logs.clock.At(max(stats.Events-1, 0)).Format(replay.TimestampLayout))
	case *out != "":
		sent, err = writePayloads(*out, next)
	default:
		var res replay.SendResult
		res, err = sendPayloads(ctx, *addr, next, *rate, *stamp)
		sent = res.Sent
		elapsed := time.Since(start)
		fmt.Fprintf(stderr, "sent %d events in %s (%.0f events/s)\n", sent, elapsed.Round(time.Millisecond), float64(sent)/max(elapsed.Seconds(), 1e-9))
		if res.Refused > 0 {
			fmt.Fprintf(stderr, "warning: %d sends were refused (connection refused: at least %d datagrams found nobody listening on %s, "+
				"e.g. before the plugin started); %d given up; the expected set below assumes every event arrived\n",
				res.Refused, res.Refused, *addr, res.Unsent)
		}
	}
	if err != nil {
		return err
	}
	if *out != "" {
		elapsed := time.Since(start)
		fmt.Fprintf(stderr, "sent %d events in %s (%.0f events/s)\n", sent, elapsed.Round(time.Millisecond), float64(sent)/max(elapsed.Seconds(), 1e-9))
	}

	data, err := json.Marshal(expected(sent))
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if *expect == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return os.WriteFile(*expect, data, 0o644) //nolint:gosec // G306: the expected set is for any script to read, as a shell redirect writes it
}

func sendPayloads(ctx context.Context, addr string, next func(time.Time) ([]byte, bool), rate float64, stamp bool) (replay.SendResult, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return replay.SendResult{}, fmt.Errorf("-addr %q: %w", addr, err)
	}
	defer conn.Close()
	res, err := replay.Send(ctx, conn, next, rate, stamp)
	if errors.Is(err, context.Canceled) {
		err = nil // interrupted: report what was sent
	}
	return res, err
}

// logFlags are the -logdir mode's flags as given.
type logFlags struct {
	dir, rotateBytes, startTime string
	rotateAge                   time.Duration
	clockRate, noise            float64
}

// logOptions are the -logdir mode's settings.
type logOptions struct {
	dir   string
	cfg   replay.LogConfig
	clock replay.SimClock
	sim   *replay.Simulation
}

// parseLogOptions checks the -logdir flags and makes the folder; the clock
// runs at -clock-rate, else at rate (-rate), else at 10 events a second.
func parseLogOptions(lf *logFlags, rate float64, seed uint64) (*logOptions, error) {
	dir, rotateAge, clockRate, noise := lf.dir, lf.rotateAge, lf.clockRate, lf.noise
	size, err := parseSize(lf.rotateBytes)
	if err != nil {
		return nil, fmt.Errorf("-rotate-bytes: %w", err)
	}
	if size == 0 {
		size = -1 // never
	}
	if rotateAge < 0 {
		return nil, fmt.Errorf("-rotate-age must not be negative, not %s", rotateAge)
	}
	start := time.Now().Truncate(time.Millisecond)
	if lf.startTime != "" {
		if start, err = parseStartTime(lf.startTime); err != nil {
			return nil, err
		}
	}
	if clockRate < 0 {
		return nil, fmt.Errorf("-clock-rate must not be negative, not %g", clockRate)
	}
	if clockRate == 0 {
		clockRate = rate
		if clockRate <= 0 {
			clockRate = 10
		}
	}
	if noise < 0 || noise > 1 {
		return nil, fmt.Errorf("-noise must be 0 to 1, not %g", noise)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: a log folder, for the plugin to read as another user
		return nil, fmt.Errorf("-logdir: %w", err)
	}
	return &logOptions{
		dir:   dir,
		cfg:   replay.LogConfig{Dir: dir, RotateBytes: size, RotateAge: rotateAge, Noise: noise, Seed: seed, FlushEachRow: rate > 0},
		clock: replay.SimClock{Start: start, Rate: clockRate},
	}, nil
}

// parseSize reads a size in bytes, or with KB, MB or GB (1024-based).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	upper := strings.ToUpper(s)
	for _, unit := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(upper, unit.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(unit.suffix)]), unit.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size: want bytes, or a whole number with KB, MB or GB", s)
	}
	return n * mult, nil
}

// parseStartTime reads RFC 3339 or Qlik's own layout.
func parseStartTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, replay.TimestampLayout, "20060102T150405.000-07:00", "20060102T150405-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-start-time %q: want RFC 3339 (2026-02-25T08:15:12.123+01:00) or 20260225T081512.123+0100", s)
}

// writeLogs writes the simulation's events as log files, paced at rate
// per second (0: as fast as possible), stamped by the simulated clock.
func writeLogs(ctx context.Context, logs *logOptions, rate float64) (replay.LogStats, error) {
	w, err := replay.NewLogWriter(logs.cfg)
	if err != nil {
		return replay.LogStats{}, err
	}
	pacer := replay.NewPacer(rate)
	for i := 0; ctx.Err() == nil; i++ {
		pacer.Wait(i)
		ev, ok := logs.sim.Next()
		if !ok {
			break
		}
		if err := w.Write(&ev, logs.clock.At(i)); err != nil {
			w.Close() // the write error says more
			return w.Stats(), err
		}
	}
	return w.Stats(), w.Close()
}

// printFreePort prints a loopback UDP port that nothing is bound to now.
func printFreePort(stdout io.Writer) error {
	port, err := loopback.FreeUDPPort()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, port)
	return err
}

func writePayloads(path string, next func(time.Time) ([]byte, bool)) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	n := 0
	for payload, ok := next(time.Time{}); ok; payload, ok = next(time.Time{}) {
		w.Write(payload)  //nolint:errcheck // checked at Flush
		w.WriteByte('\n') //nolint:errcheck // checked at Flush
		n++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return n, err
	}
	return n, f.Close()
}

// readPayloads reads one payload per line, skipping blank and # lines.
func readPayloads(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-file: %w", err)
	}
	lines := bytes.Split(data, []byte("\n"))
	payloads := make([][]byte, 0, len(lines))
	for _, line := range lines {
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		payloads = append(payloads, line)
	}
	return payloads, nil
}

// Command qliksense_replay sends Qlik Sense session traffic as log4net UDP
// datagrams, simulated or recorded, and prints the active set the plugin
// must show afterwards (JSON, see replay.Expected).
//
//	qliksense_replay -addr 127.0.0.1:9997 -users 500 -servers 3 -events 20000 -rate 2000
//	qliksense_replay -addr 127.0.0.1:9997 -file testdata/sample-day.txt
//	qliksense_replay -users 300 -events 6000 -out recorded.txt
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
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	race := flags.Float64("race", 0.05, "share of new sessions sent out of order, as log4net's two appenders do: the first connection before the Start, or a short session's Stop before its Start (0-1)")
	preexisting := flags.Int("preexisting", 0, "sessions that began before the plugin listened: no Start is sent, their connections show them")
	exclude := flags.String("exclude", "", "comma-separated DIR\\user service accounts: ~5% of events are theirs, and they are not expected (configure exclude_users to match)")
	showVersion := flags.Bool("version", false, "print the version and exit")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, version.String("qliksense_replay"))
		return err
	}

	var next func(stamp time.Time) ([]byte, bool)
	var expected func(sent int) replay.Expected
	if *file != "" {
		payloads, err := readPayloads(*file)
		if err != nil {
			return err
		}
		i := 0
		next = func(time.Time) ([]byte, bool) {
			if i == len(payloads) {
				return nil, false
			}
			i++
			return payloads[i-1], true
		}
		expected = func(sent int) replay.Expected { return replay.ExpectFromPayloads(payloads[:sent], *rate) }
	} else {
		cfg := replay.SimConfig{Users: *users, Directories: *directories, Servers: *servers, Events: *events, Seed: *seed, Format: *format,
			Race: *race, Preexisting: *preexisting, WindowEvents: replay.WindowEvents(*rate)}
		if *exclude != "" {
			cfg.Exclude = strings.Split(*exclude, ",")
		}
		sim, err := replay.NewSimulation(cfg)
		if err != nil {
			return err
		}
		var buf []byte
		next = func(at time.Time) ([]byte, bool) {
			ev, ok := sim.Next()
			if !ok {
				return nil, false
			}
			buf, _ = replay.AppendPayload(buf[:0], *format, &ev, at)
			return buf, true
		}
		expected = func(int) replay.Expected { return sim.Expected() }
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	var sent int
	var err error
	if *out != "" {
		sent, err = writePayloads(*out, next)
	} else {
		sent, err = sendPayloads(ctx, *addr, next, *rate, *stamp)
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "sent %d events in %s (%.0f events/s)\n", sent, elapsed.Round(time.Millisecond), float64(sent)/max(elapsed.Seconds(), 1e-9))

	data, err := json.Marshal(expected(sent))
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if *expect == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return os.WriteFile(*expect, data, 0o644)
}

func sendPayloads(ctx context.Context, addr string, next func(time.Time) ([]byte, bool), rate float64, stamp bool) (int, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return 0, fmt.Errorf("-addr %q: %w", addr, err)
	}
	defer conn.Close()
	sent, err := replay.Send(ctx, conn, next, rate, stamp)
	if errors.Is(err, context.Canceled) {
		err = nil // interrupted: report what was sent
	}
	return sent, err
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
	var payloads [][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		payloads = append(payloads, line)
	}
	return payloads, nil
}

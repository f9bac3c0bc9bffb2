package qliksense_sessions

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/pipeline"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/udp"
)

// BenchmarkIntake is the whole per-datagram path after the socket read:
// source check, parse, excludes, state update, counters; "connection" is
// a known user's connection to a known app, opened and closed. Events are not
// emitted (emit_events = false): building a Telegraf metric allocates by
// nature and is measured by BenchmarkIntakeWithEvents.
func BenchmarkIntake(b *testing.B) { benchIntake(b) }

// BenchmarkIntakeWithoutPeriods is BenchmarkIntake with periods = false:
// the two side by side, in one binary, give what the usage periods cost.
func BenchmarkIntakeWithoutPeriods(b *testing.B) {
	benchIntake(b, func(q *QlikSenseSessions) { q.Periods = false })
}

func benchIntake(b *testing.B, configure ...func(*QlikSenseSessions)) {
	for _, format := range []string{"sos", "butler", "legacy", "connection"} {
		b.Run(format, func(b *testing.B) {
			plugin := benchPlugin(b, false, &testutil.Accumulator{}, configure...)
			payloads := benchPayloads(format, 100000)
			source := netip.MustParseAddr("10.0.0.11")
			now := time.Now()
			if format == "connection" {
				// Each user has a tab open on the app already: the
				// benchmark's open and close are of a second one.
				for i := 0; i < len(payloads); i += 2 {
					plugin.udp.Datagram(payloads[i], source, now)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				plugin.udp.Datagram(payloads[i%len(payloads)], source, now)
			}
		})
	}
}

// BenchmarkIntakeWithEvents adds each event's metric: "metric" builds a
// Telegraf metric and hands it to Telegraf's accumulator, as the plugin does
// inside Telegraf; "line" writes its line protocol into the output queue
// (a BoundedAdder), as the execd binary does.
func BenchmarkIntakeWithEvents(b *testing.B) {
	b.Run("metric", func(b *testing.B) {
		out := make(chan telegraf.Metric, 1024)
		go func() {
			for m := range out {
				m.Accept()
			}
		}()
		b.Cleanup(func() { close(out) }) // after the pipeline stops: cleanups run last first
		benchIntakeWithEvents(b, agent.NewAccumulator(benchMaker{}, out))
	})
	b.Run("line", func(b *testing.B) {
		benchIntakeWithEvents(b, &benchLines{Accumulator: &testutil.Accumulator{}})
	})
}

func benchIntakeWithEvents(b *testing.B, acc telegraf.Accumulator) {
	plugin := benchPlugin(b, true, acc)
	payloads := benchPayloads("sos", 100000)
	source := netip.MustParseAddr("10.0.0.11")
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plugin.udp.Datagram(payloads[i%len(payloads)], source, now)
	}
}

// benchLines is an output queue that takes everything: its lines are
// counted and forgotten, as the execd binary's writer takes them.
type benchLines struct {
	telegraf.Accumulator
	bytes int
}

func (*benchLines) AddMetricWithin(m telegraf.Metric, _ time.Duration) bool {
	m.Accept()
	return true
}

func (o *benchLines) AddLinesWithin(lines []byte, _ time.Duration) bool {
	o.bytes += len(lines)
	return true
}

type benchMaker struct{}

func (benchMaker) LogName() string                              { return "" }
func (benchMaker) MakeMetric(m telegraf.Metric) telegraf.Metric { return m }
func (benchMaker) Log() telegraf.Logger                         { return testutil.Logger{} }

// benchPlugin is a started-up plugin without a socket, over a state that
// already holds 100,000 users (one session each on one of 10 servers).
func benchPlugin(b *testing.B, emitEvents bool, acc telegraf.Accumulator, configure ...func(*QlikSenseSessions)) *QlikSenseSessions {
	b.Helper()
	// The registered defaults, as a config would give them.
	plugin := inputs.Inputs["qliksense_sessions"]().(*QlikSenseSessions)
	plugin.ServiceAddress = "udp://127.0.0.1:0"
	plugin.EmitEvents = emitEvents
	plugin.ExcludeUsers = []string{`INTERNAL\sa_*`}
	plugin.Log = testutil.Logger{}
	for _, c := range configure {
		c(plugin)
	}
	if err := plugin.Init(); err != nil {
		b.Fatal(err)
	}
	startBenchPipeline(b, plugin, acc)
	for i, p := range benchPayloads("sos", 100000) {
		if i%2 == 0 { // the start of each user
			plugin.udp.Datagram(p, netip.Addr{}, time.Now())
		}
	}
	return plugin
}

// startBenchPipeline starts the plugin's pipeline and UDP source, without a
// socket, into acc. Its summary loop makes one summary at the first change
// and then waits, as a plugin between two summaries does, so that it
// takes no time from what is measured.
func startBenchPipeline(b *testing.B, plugin *QlikSenseSessions, acc telegraf.Accumulator) {
	cfg := plugin.pipelineConfig
	cfg.SummaryInterval = 1000 * time.Hour
	plugin.throttle = throttle.NewLog(plugin.Log, time.Minute)
	cfg.Log, cfg.Throttle = plugin.Log, plugin.throttle
	plugin.pipeline = pipeline.New(cfg)
	plugin.pipeline.Start(acc)
	b.Cleanup(plugin.pipeline.Stop)
	plugin.udp = udp.NewSource(nil, plugin.udpSourceConfig(), plugin.pipeline.Handle)
}

// benchPayloads cycles each of n/2 users through start and stop, so the
// state stays at its size while every command path runs.
func benchPayloads(format string, n int) [][]byte {
	payloads := make([][]byte, 0, n)
	for i := 0; len(payloads) < n; i++ {
		server := fmt.Sprintf("SENSE%d", i%10)
		user := fmt.Sprintf("user%06d", i)
		commands := []string{"Start session", "Stop session"}
		if format == "connection" {
			// A known user's tab on a known app, opened and closed.
			commands = []string{"Open connection", "Close connection"}
		}
		for _, cmd := range commands {
			var p string
			switch format {
			case "connection":
				p = fmt.Sprintf("/qseow-proxy-connection/;%s;%s;LAB;%s;AppAccess;/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d?reloadUri=https://sense/hub;"+
					"connection %s for session 's%06d'; UserAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)'",
					server, cmd, user, map[string]string{"Open connection": "Opened", "Close connection": "Closed"}[cmd], i)
			case "sos":
				p = fmt.Sprintf("/qseow-proxy-session/;%s;%s;LAB;%s;AppAccess;/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d;%s for user 'LAB\\%s'",
					server, cmd, user, cmd, user)
			case "butler":
				p = fmt.Sprintf("/proxy-session/;%s;%s;LAB;%s;AppAccess;/hub/;%s for user 'LAB\\%s'", server, cmd, user, cmd, user)
			default:
				p = fmt.Sprintf("%s;%s;LAB;%s", server, cmd, user)
			}
			payloads = append(payloads, []byte(p))
		}
	}
	return payloads
}

// BenchmarkSummary builds the summaries (site and per server, users JSON
// included) of a site with 100,000 active users spread over 10 servers,
// after one user logged in since the previous summary.
func BenchmarkSummary(b *testing.B) {
	plugin := benchPlugin(b, false, &testutil.Accumulator{})
	acc := &testutil.Accumulator{}
	plugin.pipeline.EmitSummaries(acc, metrics.TriggerChange) // the first summary sorts everybody once
	login := []byte("/qseow-proxy-session/;SENSE1;Start session;LAB;newcomer;AppAccess;/hub/;m")
	logout := []byte("/qseow-proxy-session/;SENSE1;Stop session;LAB;newcomer;AppAccess;/hub/;m")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			plugin.udp.Datagram(login, netip.Addr{}, time.Now())
		} else {
			plugin.udp.Datagram(logout, netip.Addr{}, time.Now())
		}
		plugin.pipeline.EmitSummaries(acc, metrics.TriggerChange)
		acc.ClearMetrics()
	}
}

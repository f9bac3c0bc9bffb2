// Command qliksense_loadtest measures the intake over loopback, side by side
// in one run: the replay tool sends the same stamped log4net datagrams
// (5,000 users on 4 servers by default) to a minimal UDP reader (the
// physical limit of this machine), to Telegraf's own inputs.socket_listener
// into outputs.file (stock Telegraf), to the plugin binary alone (its stdout
// read by this tool) and to the plugin under Telegraf (inputs.execd with
// the upstream parser, as the examples ship it, into outputs.file). Each
// target is measured at -cpu-rate, for its CPU time per event, and at
// -loss-rate, for what it kept; -rounds repeats that, the targets
// interleaved, and the summary takes the medians. It prints a row per
// measurement, then the summary and the ratios of the plugin to the reader
// and of the plugin under Telegraf to socket_listener. CPU and peak RSS
// come from /proc, so only on Linux; elsewhere the table says "n/a".
//
//	qliksense_loadtest -bin ./bin -rounds 3 -duration 5s
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/procstat"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/version"
)

func main() {
	var opts options
	flag.StringVar(&opts.bin, "bin", "bin", "folder with qliksense_sessions, qliksense_replay and telegraf")
	flag.IntVar(&opts.cpuRate, "cpu-rate", 20000, "send rate (events/s) at which CPU time per event is measured")
	flag.IntVar(&opts.lossRate, "loss-rate", 100000, "send rate (events/s) at which what is kept is measured")
	flag.IntVar(&opts.rounds, "rounds", 3, "how many times each target is measured at each rate, interleaved")
	flag.DurationVar(&opts.duration, "duration", 5*time.Second, "how long each measurement sends")
	flag.IntVar(&opts.users, "users", 5000, "simulated users: the size of the user lists the summaries carry")
	flag.IntVar(&opts.servers, "servers", 4, "simulated proxy servers")
	flag.StringVar(&opts.baseline, "baseline", "", "a folder with another qliksense_sessions (the code before a change): "+
		"adds the targets baseline-plugin and baseline-telegraf, measured interleaved with the others")
	targets := flag.String("targets", "reader,socket_listener,plugin,telegraf",
		"what to measure: reader (minimal UDP reader), socket_listener (Telegraf's inputs.socket_listener into outputs.file), "+
			"plugin (the binary alone), telegraf (under Telegraf, inputs.execd with influx_parser_type = \"upstream\"), "+
			"telegraf-influx-parser (the same with Telegraf's default parser), telegraf-summaries (under Telegraf with emit_events = false)")
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
		opts.targets = strings.Split(*targets, ",")
		if opts.baseline != "" {
			opts.targets = append(opts.targets, "baseline-plugin", "baseline-telegraf")
		}
		err = run(&opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "qliksense_loadtest:", err)
		os.Exit(1)
	}
}

type options struct {
	bin, baseline          string
	cpuRate, lossRate      int
	rounds, users, servers int
	duration               time.Duration
	targets                []string
}

// run measures every target at both rates, rounds times, interleaved, and
// prints each measurement and then the summary.
func run(opts *options) error {
	for _, target := range opts.targets {
		if _, ok := targetNames[target]; !ok {
			return fmt.Errorf("unknown target %q", target)
		}
	}
	fmt.Printf("| round | target | rate (ev/s) | sent | sent/s | kept | kept %% | CPU µs per event | CPU (%% of a core) | " +
		"peak RSS (MiB) | latency p50 | latency p99 |\n")
	fmt.Printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	results := make(map[string][]result)
	for round := 1; round <= opts.rounds; round++ {
		for _, rate := range []int{opts.cpuRate, opts.lossRate} {
			for _, target := range opts.targets {
				res, err := measure(opts, target, rate)
				if err != nil {
					return fmt.Errorf("%s at %d ev/s: %w", target, rate, err)
				}
				fmt.Printf("| %d %s\n", round, res.row())
				results[target] = append(results[target], res)
			}
		}
	}
	printSummary(opts, results)
	if !procstat.Available {
		fmt.Printf("\nCPU and peak RSS: not measured on %s (this tool reads them from Linux's /proc).\n", runtime.GOOS)
	}
	return nil
}

// printSummary prints each target's median CPU per event at the CPU rate
// and kept at the loss rate, and the ratios the targets of issue 22 name.
func printSummary(opts *options, results map[string][]result) {
	cpu, kept := make(map[string]float64), make(map[string]float64)
	fmt.Printf("\nMedians of %d rounds (%s each, %d users on %d servers):\n\n", opts.rounds, opts.duration, opts.users, opts.servers)
	fmt.Printf("| receiver | CPU µs per event at %d/s | kept at %d/s offered |\n|---|---:|---:|\n", opts.cpuRate, opts.lossRate)
	for _, target := range opts.targets {
		var cpus, keeps []float64
		for _, r := range results[target] {
			if r.rate == opts.cpuRate {
				cpus = append(cpus, r.cpuPerEvent())
			}
			if r.rate == opts.lossRate {
				keeps = append(keeps, r.keptPercent())
			}
		}
		cpu[target], kept[target] = median(cpus), median(keeps)
		fmt.Printf("| %s | %.1f | %.1f%% |\n", targetNames[target], cpu[target], kept[target])
	}
	fmt.Println()
	for _, ratio := range [][2]string{{"plugin", "reader"}, {"telegraf", "socket_listener"}} {
		if cpu[ratio[0]] > 0 && cpu[ratio[1]] > 0 {
			fmt.Printf("CPU per event, %s / %s: %.2f×\n", targetNames[ratio[0]], targetNames[ratio[1]], cpu[ratio[0]]/cpu[ratio[1]])
		}
	}
}

func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	values = slices.Clone(values)
	slices.Sort(values)
	if len(values)%2 == 0 {
		return (values[len(values)/2-1] + values[len(values)/2]) / 2
	}
	return values[len(values)/2]
}

type result struct {
	target          string
	rate, sent, got int
	elapsed         time.Duration
	cpuSeconds      float64
	busy            time.Duration
	rssMiB          float64
	p50, p99        time.Duration
	latencies       bool
}

// cpuPerEvent is the CPU time the target took per event sent, in µs.
func (r result) cpuPerEvent() float64 { return r.cpuSeconds * 1e6 / float64(max(r.sent, 1)) }

func (r result) keptPercent() float64 { return float64(r.got) * 100 / float64(max(r.sent, 1)) }

func (r result) row() string {
	lat50, lat99 := "–", "–"
	if r.latencies {
		lat50, lat99 = fmtDuration(r.p50), fmtDuration(r.p99)
	}
	cpu, percent, rss := "n/a", "n/a", "n/a"
	if procstat.Available {
		cpu = fmt.Sprintf("%.1f", r.cpuPerEvent())
		percent = fmt.Sprintf("%.0f", r.cpuSeconds/r.busy.Seconds()*100)
		rss = fmt.Sprintf("%.0f", r.rssMiB)
	}
	return fmt.Sprintf("| %s | %d | %d | %.0f | %d | %.1f%% | %s | %s | %s | %s | %s |",
		targetNames[r.target], r.rate, r.sent, float64(r.sent)/r.elapsed.Seconds(), r.got, r.keptPercent(), cpu, percent, rss, lat50, lat99)
}

func fmtDuration(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

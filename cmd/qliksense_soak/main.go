// Command qliksense_soak runs the plugin binary for a few million events
// with churn and checks that its memory follows the active set, not the
// traffic, and that its counts stay exact (make soak).
//
// It starts bin/qliksense_sessions on a loopback UDP port and sends it the
// replay simulation at a steady rate: users log in and out, open and close
// connections to apps, sessions come out of order (-race) or began before
// the plugin listened (-preexisting), and users leave for good while users
// never seen before arrive (-churn), so that the active set stays level
// while hundreds of thousands of names pass through. Then all but a share
// of the users log out (-keep). Every second it samples the plugin's RSS
// (/proc/<pid>/status VmRSS) and its qliksense_sessions_internal metric.
//
// It passes when
//   - no datagram was lost (datagrams_dropped 0, every event accepted);
//   - RSS at the end of the traffic, and after the logout, is within
//     -margin of the plateau reached earlier in the traffic with the same
//     active set: memory grows with the active set, not with the events
//     processed;
//   - the plugin's last summaries equal the simulation's expected set
//     exactly: the site, each server and each app, counts and user lists.
//
// With -hostile (hostile.go, hostile_run.go) a share of the traffic is
// hostile datagrams of every kind the plugin counts, bursts past max_users
// and max_apps go out before and after it, and a fake session API floods
// the plugin during it; it passes only if, besides the above, every
// datagram sent is in the counter of its kind exactly.
//
// It prints RSS over time as a Markdown table, the rate achieved and the
// final comparison. RSS and CPU come from Linux's /proc; elsewhere the
// memory check is skipped and says so.
//
//	qliksense_soak -bin bin -events 3000000 -rate 20000
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/loopback"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/procstat"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
	"github.com/qliksense-telegraf/qliksense-sessions/internal/version"
)

type options struct {
	bin                    string
	events, users, servers int
	preexisting            int
	rate                   float64
	churn, race, keep      float64
	margin                 float64
	settle                 time.Duration
	seed                   uint64
	format                 string
	outFile                string
	hostile, apiFlood      bool
	hostileShare           float64
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "folder with qliksense_sessions")
	flag.IntVar(&o.events, "events", 3_000_000, "events of traffic before the logout")
	flag.Float64Var(&o.rate, "rate", 20_000, "events per second (the plugin must take them without kernel drops)")
	flag.IntVar(&o.users, "users", 10_000, "population: users at any one time, of whom about half are active")
	flag.IntVar(&o.servers, "servers", 10, "proxy servers")
	flag.Float64Var(&o.churn, "churn", 0.05, "chance, before each event, that a user leaves for good and a new one takes the place")
	flag.Float64Var(&o.race, "race", 0.05, "share of new sessions sent out of order (replay -race)")
	flag.IntVar(&o.preexisting, "preexisting", 500, "sessions that began before the plugin listened (replay -preexisting)")
	flag.Float64Var(&o.keep, "keep", 0.1, "share of the active users still logged in at the end")
	flag.Float64Var(&o.margin, "margin", 0.10, "how far above the plateau RSS may be at the end of the traffic and after the logout")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "how long to watch after the last event (at least the 5 s reorder window and a few summaries)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed sends the same traffic")
	flag.StringVar(&o.format, "format", "sos", "payload format: sos, butler or legacy")
	flag.StringVar(&o.outFile, "output", "", "also write the plugin's metrics (its stdout, influx line protocol) to this file")
	flag.BoolVar(&o.hostile, "hostile", false,
		"mix hostile traffic into the simulation's and flood the session API (see hostile.go); every datagram must be accounted for")
	flag.BoolVar(&o.apiFlood, "api-flood", true, "with -hostile: flood the session API too (false: the datagrams only)")
	flag.Float64Var(&o.hostileShare, "hostile-share", 0.1, "with -hostile: share of the traffic's datagrams that are hostile")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("qliksense_soak"))
		return
	}
	if o.events <= 0 || o.rate <= 0 || o.users <= 0 || o.servers <= 0 || o.churn < 0 || o.churn > 1 || o.keep < 0 || o.keep > 1 || o.margin < 0 ||
		o.hostileShare < 0 || o.hostileShare > 1 {
		fail(errors.New("-events, -rate, -users and -servers must be positive, -churn, -keep and -hostile-share 0 to 1, -margin not negative"))
	}
	if o.hostile && o.format != "sos" {
		fail(errors.New("-hostile sends the sos format: its session ids ride on connection events"))
	}
	ok, err := run(o)
	if err != nil {
		fail(err)
	}
	if !ok {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "qliksense_soak:", err)
	os.Exit(2) //nolint:revive // deep-exit: fail is main's way out, for a bad flag or a failed run
}

func run(o options) (bool, error) {
	dir, err := filepath.Abs(o.bin)
	if err != nil {
		return false, err
	}
	work, err := os.MkdirTemp("", "qss-soak-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(work)
	port, err := loopback.FreeUDPPort()
	if err != nil {
		return false, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var h *hostileRun
	extra := ""
	if o.hostile {
		if h, err = newHostileRun(o); err != nil {
			return false, err
		}
		defer h.api.close()
		extra = h.config()
	}
	conf := filepath.Join(work, "qliksense_sessions.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[[inputs.qliksense_sessions]]
  service_address = "udp://%s"
  read_buffer_size = "32MiB"
  emit_events = %t
  summary_interval = "1s"
  users_max_bytes = "1000KiB"
%s`, addr, o.hostile, extra)), 0o600); err != nil {
		return false, err
	}

	var copyTo io.Writer
	if o.outFile != "" {
		f, err := os.Create(o.outFile)
		if err != nil {
			return false, err
		}
		defer f.Close()
		copyTo = f
	}
	plugin, err := startPlugin(filepath.Join(dir, "qliksense_sessions"), conf, copyTo)
	if err != nil {
		return false, err
	}
	defer plugin.stop()

	sim, err := replay.NewSimulation(replay.SimConfig{Users: o.users, Directories: 4, Servers: o.servers,
		Events: 1 << 40, Seed: o.seed, Format: o.format, Race: o.race, Preexisting: o.preexisting,
		WindowEvents: replay.WindowEvents(o.rate)})
	if err != nil {
		return false, err
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()

	fmt.Printf("qliksense_soak: %d events at %.0f/s to %s (pid %d): %d users at a time over %d servers, churn %g, race %g, %d pre-existing sessions;"+
		" then all but %.0f%% log out\n",
		o.events, o.rate, filepath.Join(dir, "qliksense_sessions"), plugin.cmd.Process.Pid, o.users, o.servers, o.churn, o.race, o.preexisting, o.keep*100)
	if h != nil {
		fmt.Print(h.describe())
	}
	fmt.Println()

	r := &runner{plugin: plugin, conn: conn, rate: o.rate, start: time.Now()}
	if h != nil {
		if err := h.bursts(r, "before the traffic"); err != nil {
			return false, err
		}
		if o.apiFlood {
			h.api.flood()
		}
	}

	// The traffic, then the logout.
	churnRNG := rand.New(rand.NewPCG(o.seed, 0x50a4)) //nolint:gosec // G404: a seeded, reproducible simulation, not a secret
	churns, pending, traffic := 0, -1, 0
	var buf []byte
	next := func(time.Time) ([]byte, bool) {
		if h != nil && h.pending() {
			traffic++
			return h.next(), true
		}
		var ev replay.Event
		if traffic < o.events {
			traffic++
			if h != nil && h.mixNow() {
				return h.next(), true
			}
			if churnRNG.Float64() < o.churn && sim.Churn() {
				churns++
			}
			ev, _ = sim.Next()
		} else {
			if pending < 0 {
				pending = sim.LogOutAll(o.keep)
				r.phase.Store(phaseLogout)
				if h != nil {
					h.closeAll()
				}
			}
			if pending == 0 {
				return nil, false
			}
			pending--
			ev, _ = sim.Next()
		}
		buf, _ = replay.AppendPayload(buf[:0], o.format, &ev, time.Time{}) //nolint:errcheck // NewSimulation checked the format, the only cause
		r.simSent++
		return buf, true
	}
	trafficStart := r.sent.Load()
	r.base = trafficStart
	sendRes, sendTime, err := r.send(next)
	if err != nil {
		return false, err
	}
	total := int(r.sent.Load() - trafficStart)
	if h != nil {
		h.api.calm()
	}
	r.phase.Store(phaseSettle)
	expected := sim.Expected()
	r.settle(o.settle)
	if h != nil {
		if err := h.bursts(r, "after the traffic"); err != nil {
			return false, err
		}
		r.settle(5 * time.Second) // the summaries after the burst
	}
	// Every event must be in, and a summary after the reorder window must
	// show the final set; give it a little longer if it is still on its way.
	var cmp comparison
	for deadline := time.Now().Add(30 * time.Second); ; {
		cmp = plugin.out.compare(expected)
		if cmp.ok() || time.Now().After(deadline) {
			break
		}
		r.settle(time.Second)
	}
	internal := plugin.out.internalFields()

	ok := true
	fmt.Print(table(r.samples))
	fmt.Println()
	trafficSecs := sendTime.Seconds()
	fmt.Printf("sent: %d events in %.1f s (%.0f events/s): %d of traffic, %d of the logout; %d users left for good and as many new ones came\n",
		total, trafficSecs, float64(total)/trafficSecs, o.events, total-o.events, churns)
	if sendRes.Refused > 0 {
		fmt.Printf("warning: %d sends were refused (nobody listening)\n", sendRes.Refused)
	}
	if busy := samplesOf(r.samples, phaseTraffic); procstat.Available && len(busy) > 1 {
		first, last := busy[0], busy[len(busy)-1]
		fmt.Printf("plugin CPU during the traffic: %.0f%% of a core\n",
			float64(last.cpuTicks-first.cpuTicks)/procstat.ClockTicks/(last.at-first.at).Seconds()*100)
	}

	if h != nil {
		accountOK, text := h.account(internal, r.simSent, r.sent.Load(), plugin.out.foreignLines())
		fmt.Print(text)
		ok = ok && accountOK
	} else {
		// Loss.
		received, accepted, dropped := internal["datagrams_received"], internal["events_accepted"], internal["datagrams_dropped"]
		_, dropCounted := internal["datagrams_dropped"]
		lossOK := received == int64(total) && accepted == int64(total) && dropped == 0
		dropText := fmt.Sprintf("%d dropped by the kernel", dropped)
		if !dropCounted {
			dropText = "kernel drops not counted on " + runtime.GOOS
		}
		fmt.Printf("%s loss: %d sent, %d received, %d accepted, %s\n", verdict(lossOK), total, received, accepted, dropText)
		if !lossOK {
			ok = false
			fmt.Println("   lower -rate: the counts cannot be exact when datagrams are lost")
		}
	}

	// Memory.
	if procstat.Available {
		memOK, text := memoryVerdict(r.samples, o.events, o.margin)
		fmt.Print(text)
		ok = ok && memOK
	} else {
		fmt.Printf("SKIP memory: RSS is read from Linux's /proc, not available on %s\n", runtime.GOOS)
	}

	// The final set.
	fmt.Printf("%s final set: %s\n", verdict(cmp.ok()), cmp.summary(expected))
	for _, d := range cmp.diffs {
		fmt.Println("   " + d)
	}
	ok = ok && cmp.ok()

	if logged := plugin.errorLines(); len(logged) > 0 {
		fmt.Printf("plugin errors (%d):\n", len(logged))
		for _, l := range logged[:min(len(logged), 10)] {
			fmt.Println("   " + l)
		}
	}
	if ok {
		fmt.Println("\nPASS")
	} else {
		fmt.Println("\nFAIL")
	}
	return ok, nil
}

func verdict(ok bool) string {
	if ok {
		return "OK  "
	}
	return "FAIL"
}

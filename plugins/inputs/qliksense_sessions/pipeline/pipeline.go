// Package pipeline is the one path every parsed event takes, whichever
// source it came from (a datagram, a row of a log file): excludes, which
// source owns a server, the state and its lock, the event metric, summary
// scheduling, the Butler summaries, the intake counters and what goes into
// the state file. Sources hand it what their parser made of their bytes
// (Handle); nothing else takes the state's lock.
package pipeline

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/periods"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
)

// Config is what the pipeline needs from the plugin's configuration.
type Config struct {
	State    state.Config
	Excludes *Excludes // nil: none
	// EmitEvents adds a qliksense_session_event per accepted event (not for
	// rows read while rebuilding); EventMessage adds its message.
	EmitEvents   bool
	EventMessage bool
	// SummaryInterval is the least time between change summaries; 0: none.
	SummaryInterval time.Duration
	UsersMaxBytes   int
	// ButlerSummaries replaces the change summaries with Butler's.
	ButlerSummaries bool
	// VirtualProxies are the proxy blocks' virtual proxies, in the order
	// of the configuration: their last answers are summarised in it.
	VirtualProxies []VirtualProxy
	// AppName names an app for qliksense_users_app; nil: no names.
	AppName func(id string) string
	// AppStream names an app's stream for qliksense_users_app; nil: none.
	AppStream func(id string) string
	// Summarised, if set, adds what else a summary makes (the licences'
	// and streams' users) to acc, after the summaries, with their time.
	Summarised func(acc telegraf.Accumulator, s *metrics.Summaries, trigger string)

	// StateFile is where the state is kept across restarts; "" for nowhere.
	StateFile         string
	StateSaveInterval time.Duration
	SessionMaxAge     time.Duration
	// SilenceAlert is how long a server with active users may send nothing
	// before it counts in silent_servers; 0: never.
	SilenceAlert time.Duration
	// Periods, if set, keeps the usage periods (qliksense_users_period,
	// qliksense_users_distinct); nil: none.
	Periods *periods.Config
	// Now is the clock of the summaries (nil: time.Now), for tests.
	Now func() time.Time

	Log      telegraf.Logger
	Throttle *throttle.Log
}

// VirtualProxy names one virtual proxy of a proxy block.
type VirtualProxy struct {
	Server string
	Prefix string // "" for the default proxy
	Tag    string // its virtual_proxy tag
}

// Counters are the pipeline's intake counters.
type Counters struct {
	EventsAccepted   uint64
	EventsIgnored    uint64
	EventsExcluded   uint64
	Malformed        uint64 // datagrams
	LogRowsMalformed uint64
	OversizeRows     uint64 // rows over max_line_size (the source logs them)
	UDPSuperseded    uint64 // datagrams of servers read from their log files
	DecodedANSI      uint64
	StateSaveErrors  uint64
}

// Pipeline is the event path. Make one with New, Start it, Handle events.
type Pipeline struct {
	cfg Config
	acc telegraf.Accumulator
	// bounded is acc if it is a BoundedAdder (the execd binary's), else nil.
	bounded BoundedAdder
	// started is when New made it, by cfg.Now.
	started time.Time

	// mu guards the state and everything the event path changes with it.
	mu    sync.Mutex
	state *state.State
	// periods follows the state's changes (periods.go); nil without.
	periods *periods.Tracker
	// savedPeriods is the periods' generation last written to state_file.
	savedPeriods uint64
	// fileServers are the servers whose events come from the log files
	// (by case-folded name): the files are the truth for them, and their
	// UDP events are dropped, so that no session counts twice.
	fileServers map[string]string
	answers     map[VirtualProxy][]state.APISession // each virtual proxy's last answer
	butler      *butlerHook
	// savedGeneration is the state generation last written to state_file.
	savedGeneration uint64
	// checkpoint, when the log files are read, takes the state's records
	// (in its function) together with the files' positions.
	checkpoint func(records func()) []statefile.Position

	// Excludes' buffers and the event lines', one per source goroutine.
	datagramNameBuf, rowNameBuf []byte
	datagramLineBuf, rowLineBuf []byte

	// emitMu keeps summaries in the order their snapshots were taken.
	emitMu      sync.Mutex
	lastSummary time.Time
	changed     chan struct{} // a summary is due; capacity 1 coalesces bursts
	done        chan struct{}
	wg          sync.WaitGroup

	// lastVirtualProxies and lastChangeVirtualProxies are the virtual
	// proxies' previous summaries and previous change summaries, for change
	// summaries. Guarded by emitMu.
	lastVirtualProxies, lastChangeVirtualProxies map[vpKey]state.Summary

	eventsAccepted, eventsIgnored, eventsExcluded, malformed, logRowsMalformed,
	oversizeRows, udpSuperseded, decodedANSI, stateSaveErrors atomic.Uint64
	// apiRefusedMaxUsers are the API sessions their client refused (see
	// Reconcile).
	apiRefusedMaxUsers atomic.Uint64
	// droppedOutputBlocked are the event metrics shed by addEvent;
	// outputShedding is whether the last one was.
	droppedOutputBlocked atomic.Uint64
	outputShedding       atomic.Bool
	// periodClockHeld: see HoldPeriodClock; periodsRefusedLogged: the
	// periods' refused users last logged.
	periodClockHeld      atomic.Bool
	periodsRefusedLogged atomic.Uint64
}

// New makes the pipeline over an empty state.
func New(cfg Config) *Pipeline {
	if cfg.Excludes == nil {
		cfg.Excludes = &Excludes{}
	}
	p := &Pipeline{
		cfg:         cfg,
		state:       state.New(cfg.State),
		fileServers: make(map[string]string),
		answers:     make(map[VirtualProxy][]state.APISession),
		changed:     make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	p.started = p.now()
	if cfg.ButlerSummaries {
		p.butler = newButlerHook(cfg.State.MaxUsers, cfg.State.MaxServers)
	}
	if cfg.Periods != nil {
		p.periods = periods.New(*cfg.Periods)
		p.state.Observe(p.periods)
	}
	return p
}

// Handle takes one parsed datagram or row: the one entry of every source.
// What it gets is valid only during the call. A datagram's source
// goroutine and a log file's may call it at the same time.
func (p *Pipeline) Handle(in *event.Parsed) {
	row := in.From.IsRow()
	if in.ANSI {
		p.decodedANSI.Add(1)
	}
	switch in.Status {
	case event.Malformed:
		p.countMalformed(in)
		return
	case event.Ignored:
		p.eventsIgnored.Add(1)
		if !row {
			p.cfg.Throttle.Warnf("ignored", "Ignored a datagram from %s: %s: %s", in.From.Addr, in.Reason, throttle.Excerpt(in.Raw))
		}
		return
	}
	ev := &in.Event
	nameBuf, lineBuf := &p.datagramNameBuf, &p.datagramLineBuf
	if row {
		nameBuf, lineBuf = &p.rowNameBuf, &p.rowLineBuf
	}
	if p.cfg.Excludes.Excluded(ev, nameBuf) {
		p.eventsExcluded.Add(1)
		return
	}
	live := !row || !in.From.Rebuilding
	at := in.At()

	p.mu.Lock()
	if row {
		p.claimServer(ev.Server)
	} else if p.fromFiles(ev.Server) {
		// This server's log files are read: they are its truth.
		p.mu.Unlock()
		p.udpSuperseded.Add(1)
		return
	}
	p.eventsAccepted.Add(1)
	if !row {
		p.butlerApply(in)
	}
	if p.periods != nil && (row || !p.periodClockHeld.Load()) {
		p.periods.Advance(at)
	}
	outcome := p.state.Apply(ev, at)
	var eventMetric telegraf.Metric
	eventLine := (*lineBuf)[:0]
	if p.cfg.EmitEvents && live {
		// Built under the lock (it counts the state's users), added after
		// it: a blocked output must not hold up saves and summaries.
		if p.bounded != nil {
			eventLine = metrics.AppendEventLine(eventLine, p.eventToDescribe(in), p.state.ActiveUsers(), p.cfg.EventMessage, at)
			*lineBuf = eventLine
		} else {
			eventMetric = metrics.EventMetric(p.ownedEvent(in, p.eventToDescribe(in)), p.state.ActiveUsers(), p.cfg.EventMessage, at)
		}
	}
	var butlerMetrics []telegraf.Metric
	if !row {
		butlerMetrics = p.butlerEmit(at)
	}
	appsChanged := p.state.AppsChanged()
	finals := p.periodFinals()
	p.mu.Unlock()
	if finals != nil {
		addPeriods(p.acc, finals)
	}
	if len(eventLine) > 0 {
		p.addEventLines(eventLine)
	}
	if eventMetric != nil {
		p.addEvent(eventMetric)
	}
	for _, m := range butlerMetrics {
		p.addEvent(m)
	}

	switch outcome {
	case state.OrphanStop:
		if !row {
			p.cfg.Throttle.Warnf("orphan", "Stop session for %s on %s without an open session (it started before we listened, or its start was lost)",
				ev.UserName(), ev.Server)
		}
	case state.Refused:
		fix := "raise them if your site is that large"
		if !row {
			fix += ", else restrict allowed_sources"
		}
		p.cfg.Throttle.Warnf("refused", "Refused %s for %s on %s: the plugin tracks max_users = %d users on max_servers = %d servers; %s",
			ev.Command, ev.UserName(), ev.Server, p.cfg.State.MaxUsers, p.cfg.State.MaxServers, fix)
	case state.RefusedMaxUserSessions:
		fix := "raise it if your users keep that many sessions open"
		if !row {
			fix += ", else restrict allowed_sources"
		}
		p.cfg.Throttle.Warnf("refused_sessions", "Refused %s for %s on %s: the user has max_user_sessions = %d sessions open over all servers; %s",
			ev.Command, ev.UserName(), ev.Server, p.cfg.State.MaxUserSessions, fix)
	case state.RefusedSessionIDLength:
		why := "a sender that is no Qlik Sense proxy: restrict allowed_sources to your proxy nodes"
		if row {
			why = "a log file that is no Qlik Sense proxy's audit log: check the logfile block's files"
		}
		p.cfg.Throttle.Warnf("refused_session_id", "Refused %s for %s on %s: a session id of %d bytes, over the %d a proxy's ids take (GUIDs of 36 bytes, "+
			"the log files' ids of 64); %s", ev.Command, ev.UserName(), ev.Server, len(ev.SessionID), state.MaxSessionIDLength, why)
	}
	if (outcome == state.Changed || appsChanged) && live {
		p.SummaryDue()
	}
}

func (p *Pipeline) countMalformed(in *event.Parsed) {
	switch {
	case !in.From.IsRow():
		p.malformed.Add(1)
		p.cfg.Throttle.Warnf("malformed", "Dropped a malformed datagram from %s: %s: %s", in.From.Addr, in.Reason, throttle.Excerpt(in.Raw))
	case in.Oversize:
		p.oversizeRows.Add(1) // the source logs it
	default:
		p.logRowsMalformed.Add(1)
		p.cfg.Throttle.Warnf("log_malformed", "Skipped a malformed row of %s: %s: %s", in.From.Path, in.Reason, throttle.Excerpt(in.Raw))
	}
}

// eventToDescribe is the event for qliksense_session_event: with
// butler_summaries, the names as Butler read them. Called under mu.
func (p *Pipeline) eventToDescribe(in *event.Parsed) *event.Event {
	if !in.From.IsRow() {
		return p.butlerNames(&in.Event)
	}
	return &in.Event
}

// ownedEvent is ev with strings of its own, for a metric that keeps them
// (unless in.Owned, they alias the source's buffer).
func (*Pipeline) ownedEvent(in *event.Parsed, ev *event.Event) *event.Event {
	if in.Owned {
		return ev
	}
	owned := *ev
	owned.Server, owned.Directory, owned.UserID = strings.Clone(ev.Server), strings.Clone(ev.Directory), strings.Clone(ev.UserID)
	owned.Origin, owned.Context, owned.Message = strings.Clone(ev.Origin), strings.Clone(ev.Context), strings.Clone(ev.Message)
	return &owned
}

// Counters returns the intake counters.
func (p *Pipeline) Counters() Counters {
	return Counters{
		EventsAccepted:   p.eventsAccepted.Load(),
		EventsIgnored:    p.eventsIgnored.Load(),
		EventsExcluded:   p.eventsExcluded.Load(),
		Malformed:        p.malformed.Load(),
		LogRowsMalformed: p.logRowsMalformed.Load(),
		OversizeRows:     p.oversizeRows.Load(),
		UDPSuperseded:    p.udpSuperseded.Load(),
		DecodedANSI:      p.decodedANSI.Load(),
		StateSaveErrors:  p.stateSaveErrors.Load(),
	}
}

package qliksense_sessions

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/filter"
	"github.com/influxdata/telegraf/plugins/inputs"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/log4net"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/udp"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

//go:embed sample.conf
var sampleConfig string

// QlikSenseSessions tracks the active users of a Qlik Sense site.
type QlikSenseSessions struct {
	ServiceAddress  string          `toml:"service_address"`
	AllowedSources  []string        `toml:"allowed_sources"`
	ReadBufferSize  config.Size     `toml:"read_buffer_size"`
	MaxDatagramSize config.Size     `toml:"max_datagram_size"`
	ExcludeUsers    []string        `toml:"exclude_users"`
	EmitEvents      bool            `toml:"emit_events"`
	EventMessage    bool            `toml:"event_message"`
	SummaryInterval config.Duration `toml:"summary_interval"`
	ReorderWindow   config.Duration `toml:"reorder_window"`
	MaxUsers        int             `toml:"max_users"`
	MaxServers      int             `toml:"max_servers"`
	UsersMaxBytes   config.Size     `toml:"users_max_bytes"`
	MaxApps         int             `toml:"max_apps"`

	StateFile         string          `toml:"state_file"`
	StateSaveInterval config.Duration `toml:"state_save_interval"`
	SessionMaxAge     config.Duration `toml:"session_max_age"`

	Proxies    []*Proxy    `toml:"proxy"`
	Repository *Repository `toml:"repository"` // app names (app_names.go)
	LogFiles   *LogFiles   `toml:"logfile"`    // the log file source (log_files.go)

	butlerMode // butler_summaries (butler.go)

	Log telegraf.Logger `toml:"-"`

	network        string // udp, udp4 or udp6
	address        string // host:port
	allowedSources udp.Sources
	excludes       []filter.Filter
	excludeDirs    []string // per exclude, its literal directory (see literalDirectory)
	excludeBuf     []byte
	ansiBuf        []byte // decoded ANSI payloads; only the reader goroutine uses it

	acc      telegraf.Accumulator
	listener *udp.Listener
	logs     *logSource
	wg       sync.WaitGroup
	done     chan struct{}
	changed  chan struct{} // a summary is due; capacity 1 coalesces bursts
	throttle *throttledLog

	// mu guards the state and the event path; emitMu keeps summaries in the
	// order their snapshots were taken.
	mu          sync.Mutex
	state       *state.State
	emitMu      sync.Mutex
	lastSummary time.Time
	// savedGeneration is the state generation last written to state_file.
	savedGeneration uint64

	stats stats
}

// stats are the intake counters of qliksense_sessions_internal.
type stats struct {
	datagramsReceived atomic.Uint64
	eventsAccepted    atomic.Uint64
	eventsIgnored     atomic.Uint64
	eventsExcluded    atomic.Uint64
	malformed         atomic.Uint64
	rejectedSource    atomic.Uint64
	oversize          atomic.Uint64
	logRowsMalformed  atomic.Uint64
	udpSuperseded     atomic.Uint64
	decodedANSI       atomic.Uint64
	proxyPolls        atomic.Uint64
	proxyPollErrors   atomic.Uint64
	stateSaveErrors   atomic.Uint64
}

func (*QlikSenseSessions) SampleConfig() string {
	return sampleConfig
}

// Init validates the configuration.
func (q *QlikSenseSessions) Init() error {
	var err error
	if q.network, q.address, err = udp.ParseAddress(q.ServiceAddress); err != nil {
		return err
	}
	if q.allowedSources, err = udp.ParseSources(q.AllowedSources); err != nil {
		return err
	}
	if q.ReadBufferSize < 0 {
		return fmt.Errorf("read_buffer_size %d is negative: give a size such as \"8MiB\", or \"0\" for the OS default", q.ReadBufferSize)
	}
	if q.MaxDatagramSize <= 0 {
		return fmt.Errorf("max_datagram_size %d must be positive: give a size such as \"64KiB\"", q.MaxDatagramSize)
	}
	if q.SummaryInterval < 0 {
		return fmt.Errorf("summary_interval %s is negative: use a duration such as \"1s\", or \"0s\" for summaries on gathers only", time.Duration(q.SummaryInterval))
	}
	if q.StateSaveInterval <= 0 {
		return fmt.Errorf("state_save_interval %s must be positive: use a duration such as \"10s\"", time.Duration(q.StateSaveInterval))
	}
	if q.SessionMaxAge < 0 {
		return fmt.Errorf("session_max_age %s is negative: use a duration such as \"8h\", or \"0s\" to never expire sessions", time.Duration(q.SessionMaxAge))
	}
	if q.ReorderWindow < 0 {
		return fmt.Errorf("reorder_window %s is negative: use a duration such as \"5s\", or \"0s\" to count every Start session as a new session", time.Duration(q.ReorderWindow))
	}
	if q.MaxUsers <= 0 {
		return fmt.Errorf("max_users %d must be positive: it bounds the users a sender can make the plugin track; use e.g. 100000, well above your site's users", q.MaxUsers)
	}
	if q.MaxApps <= 0 {
		return fmt.Errorf("max_apps %d must be positive: it bounds the apps whose users the plugin counts; use e.g. 10000, above your site's apps", q.MaxApps)
	}
	if q.MaxServers <= 0 {
		return fmt.Errorf("max_servers %d must be positive: it bounds the proxy servers a sender can make the plugin track; use e.g. 100, above your site's proxy nodes", q.MaxServers)
	}
	if q.UsersMaxBytes < 2 || q.UsersMaxBytes > maxUsersMaxBytes {
		return fmt.Errorf("users_max_bytes %d is out of range: give a size from \"2B\" to \"%dKiB\"; InfluxDB 1.x's documented limit for a string field is 64 KiB, 1.9+ and 2.x refuse points over 1 MiB", q.UsersMaxBytes, maxUsersMaxBytes/1024)
	}
	if err := q.initProxies(); err != nil {
		return err
	}
	if err := q.initRepository(); err != nil {
		return err
	}
	if err := q.initStateFile(); err != nil {
		return err
	}
	if err := q.initLogFiles(); err != nil {
		return err
	}
	q.excludes, q.excludeDirs = q.excludes[:0], q.excludeDirs[:0]
	for _, pattern := range q.ExcludeUsers {
		f, err := compileUserGlob(pattern)
		if err != nil {
			return err
		}
		q.excludes = append(q.excludes, f)
		q.excludeDirs = append(q.excludeDirs, literalDirectory(pattern))
	}
	return nil
}

// literalDirectory is the directory a DIRECTORY\userid pattern names, in
// lower case, or "" if it is a glob or there is none.
func literalDirectory(pattern string) string {
	dir, _, found := strings.Cut(strings.ToLower(strings.TrimSpace(pattern)), `\`)
	if !found || strings.ContainsAny(dir, "*?[") {
		return ""
	}
	return dir
}

// listensOnAllInterfaces tells whether a host:port leaves the host empty
// or unspecified (0.0.0.0, ::).
func listensOnAllInterfaces(hostPort string) bool {
	host, _, _ := net.SplitHostPort(hostPort)
	addr, err := netip.ParseAddr(host)
	return host == "" || err == nil && addr.IsUnspecified()
}

func port(hostPort string) string {
	_, p, _ := net.SplitHostPort(hostPort)
	return p
}

// compileUserGlob compiles one exclude_users pattern. Matching ignores case;
// a backslash is the DIRECTORY\userid separator, never a glob escape.
func compileUserGlob(pattern string) (filter.Filter, error) {
	p := strings.ToLower(strings.TrimSpace(pattern))
	if p == "" {
		return nil, errors.New(`exclude_users: empty pattern: remove it, or give DIRECTORY\userid globs such as 'INTERNAL\sa_*'`)
	}
	if strings.ContainsAny(p, "*?[") {
		p = strings.ReplaceAll(p, `\`, `\\`)
	}
	f, err := filter.Compile([]string{p})
	if err != nil {
		return nil, fmt.Errorf(`exclude_users: pattern %q: %w: use * and ? as wildcards, e.g. 'INTERNAL\sa_*'`, pattern, err)
	}
	return f, nil
}

// excluded tells whether exclude_users matches the event's user. It builds
// the name in buf, so as not to allocate: each source passes its own.
func (q *QlikSenseSessions) excluded(ev *event.Event, buf *[]byte) bool {
	if len(q.excludes) == 0 {
		return false
	}
	// Most patterns name a directory (INTERNAL\sa_*): an event of another
	// directory needs no lower-cased name.
	for i, dir := range q.excludeDirs {
		if dir == "" || strings.EqualFold(dir, ev.Directory) {
			break
		}
		if i == len(q.excludeDirs)-1 {
			return false
		}
	}
	*buf = appendLower(appendLower((*buf)[:0], ev.Directory), `\`)
	*buf = appendLower(*buf, ev.UserID)
	name := unsafe.String(unsafe.SliceData(*buf), len(*buf))
	for _, f := range q.excludes {
		if f.Match(name) {
			return true
		}
	}
	return false
}

// appendLower appends s in lower case, as strings.ToLower would write it.
func appendLower(dst []byte, s string) []byte {
	for _, r := range s {
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

// Start opens the UDP socket and starts the summary loop.
func (q *QlikSenseSessions) Start(acc telegraf.Accumulator) error {
	listener, warning, err := udp.Listen(q.network, q.address, int(q.ReadBufferSize))
	if err != nil {
		return fmt.Errorf("listening on service_address %q failed: %w (is another program using the port?)", q.ServiceAddress, err)
	}
	if warning != "" {
		q.Log.Warn(warning)
	}
	q.Log.Infof("Listening for log4net datagrams on %s", listener.LocalAddr())
	if len(q.allowedSources) == 0 && listensOnAllInterfaces(q.address) {
		q.Log.Warnf("Listening on all interfaces with no allowed_sources: any host that reaches UDP port %s can add users to the counts. "+
			"Set allowed_sources to your proxy nodes, e.g. allowed_sources = [\"10.0.0.11\", \"10.0.0.12\"], or listen on one address", port(q.address))
	}
	q.acc = acc
	q.listener = listener
	q.state = state.New(q.stateConfig())
	q.throttle = newThrottledLog(q.Log, time.Minute)
	q.done = make(chan struct{})
	q.changed = make(chan struct{}, 1)
	resume, fileServers := q.loadState(time.Now())
	if err := q.startLogFiles(resume, fileServers); err != nil {
		listener.Close()
		return err
	}
	q.startButler()
	q.mu.Lock() // the log files may be rebuilding already
	restored := q.state.ActiveSessions() > 0
	q.mu.Unlock()
	if restored {
		q.summaryDue() // show the restored sessions at once, not at the first gather
	}

	q.goRun(q.readDatagrams)
	q.goRun(q.summariseChanges)
	q.goRun(q.maintain)
	for _, p := range q.Proxies {
		q.goRun(func() { q.pollProxy(p) })
	}
	q.startAppNames()
	return nil
}

func (q *QlikSenseSessions) stateConfig() state.Config {
	return state.Config{ReorderWindow: time.Duration(q.ReorderWindow), MaxUsers: q.MaxUsers, MaxServers: q.MaxServers, MaxApps: q.MaxApps}
}

func (q *QlikSenseSessions) goRun(f func()) {
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		f()
	}()
}

// Stop closes the socket and waits for the goroutines.
func (q *QlikSenseSessions) Stop() {
	if q.listener == nil {
		return
	}
	close(q.done)
	q.listener.Close()
	q.stopLogFiles()
	q.wg.Wait()
	q.listener = nil
	q.saveState()
}

// Gather emits the summaries and the intake counters.
func (q *QlikSenseSessions) Gather(acc telegraf.Accumulator) error {
	if q.state == nil {
		return nil
	}
	q.emitSummaries(acc, triggerInterval)
	q.emitInternal(acc)
	return nil
}

func (q *QlikSenseSessions) readDatagrams() {
	q.listener.Run(q.handleDatagram, func(err error) {
		q.throttle.log("read", "Reading from %s failed: %v", q.ServiceAddress, err)
	})
}

// handleDatagram runs one datagram through parser, excludes and state. The
// payload is only valid during the call. The datagram counts as received
// once handled, so that whoever sees the count sees its effect.
func (q *QlikSenseSessions) handleDatagram(payload []byte, source netip.Addr, received time.Time) {
	defer q.stats.datagramsReceived.Add(1)
	if !q.allowedSources.Allowed(source) {
		q.stats.rejectedSource.Add(1)
		q.throttle.log("rejected", "Dropped datagram from %s, which is not in allowed_sources", source)
		return
	}
	if len(payload) > int(q.MaxDatagramSize) {
		q.stats.oversize.Add(1)
		q.throttle.log("oversize", "Dropped a datagram of %d bytes from %s: max_datagram_size is %d (%s...)", len(payload), source, q.MaxDatagramSize, excerpt(payload))
		return
	}

	data := q.ownedIfEmitting(payload)
	var ev event.Event
	status, reason := log4net.Parse(data, &ev)
	if status == log4net.Malformed && reason == log4net.ReasonNotUTF8 {
		// The legacy appender sends the Windows ANSI code page.
		if decoded, ok := log4net.DecodeANSI(q.ansiBuf[:0], payload); ok {
			q.ansiBuf = decoded
			q.stats.decodedANSI.Add(1)
			status, reason = log4net.Parse(q.ownedIfEmitting(decoded), &ev)
		}
	}
	switch status {
	case log4net.Malformed:
		q.stats.malformed.Add(1)
		q.throttle.log("malformed", "Dropped a malformed datagram from %s: %s: %s", source, reason, excerpt(payload))
		return
	case log4net.Ignored:
		q.stats.eventsIgnored.Add(1)
		q.throttle.log("ignored", "Ignored a datagram from %s: %s: %s", source, reason, excerpt(payload))
		return
	}
	if q.excluded(&ev, &q.excludeBuf) {
		q.stats.eventsExcluded.Add(1)
		return
	}
	q.mu.Lock()
	if q.fromFiles(ev.Server) {
		// This server's log files are read: they are its truth.
		q.mu.Unlock()
		q.stats.udpSuperseded.Add(1)
		return
	}
	q.stats.eventsAccepted.Add(1)
	q.butlerApply(&ev, payload) // butler_summaries (butler.go)
	outcome := q.state.Apply(&ev, received)
	activeUsers := q.state.ActiveUsers()
	if q.EmitEvents {
		// Added under the lock so that events reach the output in the order the
		// state saw them.
		q.acc.AddMetric(eventMetric(q.butlerNames(&ev), activeUsers, q.EventMessage, received))
	}
	q.butlerEmit(received)
	appsChanged := q.state.AppsChanged()
	q.mu.Unlock()

	switch outcome {
	case state.OrphanStop:
		q.throttle.log("orphan", "Stop session for %s on %s without an open session (it started before we listened, or its start was lost)", ev.UserName(), ev.Server)
	case state.Refused:
		q.throttle.log("refused", "Refused %s for %s on %s: the plugin tracks max_users = %d users on max_servers = %d servers; raise them if your site is that large, else restrict allowed_sources", ev.Command, ev.UserName(), ev.Server, q.MaxUsers, q.MaxServers)
	}
	if outcome == state.Changed || appsChanged {
		q.summaryDue()
	}
}

// ownedIfEmitting returns data, or a copy of it when events are emitted:
// parsed events alias what they are parsed from, and an event metric keeps
// its strings. One copy is one allocation, where cloning each field would
// take seven.
func (q *QlikSenseSessions) ownedIfEmitting(data []byte) []byte {
	if !q.EmitEvents {
		return data
	}
	owned := string(data)
	return unsafe.Slice(unsafe.StringData(owned), len(owned))
}

// summaryDue asks the summary loop for a summary soon.
func (q *QlikSenseSessions) summaryDue() {
	if q.SummaryInterval <= 0 || q.ButlerSummaries {
		return
	}
	select {
	case q.changed <- struct{}{}:
	default:
	}
}

// summariseChanges emits summaries after changes, at most once per
// summary_interval.
func (q *QlikSenseSessions) summariseChanges() {
	interval := time.Duration(q.SummaryInterval)
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-q.done:
			return
		case <-q.changed:
		}
		q.emitMu.Lock()
		wait := time.Until(q.lastSummary.Add(interval))
		q.emitMu.Unlock()
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-q.done:
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		q.emitSummaries(q.acc, triggerChange)
	}
}

// The user lists in summaries are cut to users_max_bytes, so that no metric
// line passes 1 MiB, which InfluxDB 1.9+ and 2.x refuse whole (with the
// counts in it).
const (
	defaultUsersMaxBytes = 512 * 1024
	maxUsersMaxBytes     = 1000 * 1024
)

func init() {
	inputs.Add("qliksense_sessions", func() telegraf.Input {
		return &QlikSenseSessions{
			ServiceAddress:    "udp://:9997",
			ReadBufferSize:    config.Size(8 * 1024 * 1024),
			MaxDatagramSize:   config.Size(udp.MaxPayload),
			EmitEvents:        true,
			SummaryInterval:   config.Duration(time.Second),
			StateSaveInterval: config.Duration(10 * time.Second),
			ReorderWindow:     config.Duration(state.DefaultReorderWindow),
			MaxUsers:          100_000,
			MaxServers:        100,
			MaxApps:           10_000,
			UsersMaxBytes:     config.Size(defaultUsersMaxBytes),
		}
	})
}

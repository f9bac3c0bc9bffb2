// Package qliksense_sessions is the Telegraf wiring of the plugin: its
// configuration, Init's checks into each package's own Config, and
// Start/Gather/Stop. The event path is package pipeline.
package qliksense_sessions

import (
	_ "embed"
	"fmt"
	"sync"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/logfeed"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/log4net"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/pipeline"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/proxies"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/udp"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
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
	// MaxUserSessions bounds one user's sessions over all servers.
	MaxUserSessions int `toml:"max_user_sessions"`
	// SessionLimit and SilenceAlert: usage.go.
	SessionLimit int             `toml:"session_limit"`
	SilenceAlert config.Duration `toml:"silence_alert"`
	// Periods and PeriodTimezone: the usage periods (usage.go).
	Periods        bool   `toml:"periods"`
	PeriodTimezone string `toml:"period_timezone"`
	// ButlerSummaries makes the change-driven summaries Butler's: after each
	// accepted Start session, Open connection and Stop session, one
	// qliksense_users_server_butler per server Butler would publish, then one
	// qliksense_users_butler, with Butler's counts and usernames byte for
	// byte; the plugin's own change-driven summaries are off (gathers still
	// emit the exact ones) and events carry the names as the proxy sent them.
	ButlerSummaries bool `toml:"butler_summaries"`

	StateFile         string          `toml:"state_file"`
	StateSaveInterval config.Duration `toml:"state_save_interval"`
	SessionMaxAge     config.Duration `toml:"session_max_age"`

	Proxies    []*Proxy    `toml:"proxy"`
	Repository *Repository `toml:"repository"` // app list (package applist), licences (package licences)
	LogFiles   *LogFiles   `toml:"logfile"`    // the log file source (log_files.go)

	Log telegraf.Logger `toml:"-"`

	network, address string // from service_address
	pipelineConfig   pipeline.Config
	udpConfig        udp.Config

	pipeline  *pipeline.Pipeline
	udp       *udp.Source
	listener  *udp.Listener
	logs      *logfeed.Feed
	throttle  *throttle.Log
	proxyPoll *proxies.Poller
	wg        sync.WaitGroup
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
	allowed, err := udp.ParseSources(q.AllowedSources)
	if err != nil {
		return err
	}
	if err := q.checkValues(); err != nil {
		return err
	}
	if err := q.checkUsage(); err != nil {
		return err
	}
	periodsConfig, err := q.periodsConfig()
	if err != nil {
		return err
	}
	if err := q.initProxies(); err != nil {
		return err
	}
	if err := q.initRepository(); err != nil {
		return err
	}
	if q.StateFile != "" {
		if err := statefile.CheckPath(q.StateFile); err != nil {
			return err
		}
	}
	if err := q.initLogFiles(); err != nil {
		return err
	}
	excludes, err := pipeline.CompileExcludes(q.ExcludeUsers)
	if err != nil {
		return err
	}
	q.udpConfig = udp.Config{
		ServiceAddress:  q.ServiceAddress,
		Allowed:         allowed,
		MaxDatagramSize: int(q.MaxDatagramSize),
		Parser:          &log4net.Parser{Retain: q.EmitEvents, ButlerFields: q.ButlerSummaries},
	}
	q.pipelineConfig = pipeline.Config{
		State:             q.stateConfig(),
		Excludes:          excludes,
		EmitEvents:        q.EmitEvents,
		EventMessage:      q.EventMessage,
		SummaryInterval:   time.Duration(q.SummaryInterval),
		UsersMaxBytes:     int(q.UsersMaxBytes),
		ButlerSummaries:   q.ButlerSummaries,
		VirtualProxies:    q.virtualProxies(),
		StateFile:         q.StateFile,
		StateSaveInterval: time.Duration(q.StateSaveInterval),
		SessionMaxAge:     time.Duration(q.SessionMaxAge),
		SilenceAlert:      time.Duration(q.SilenceAlert),
		Periods:           periodsConfig,
	}
	if r := q.Repository; r != nil {
		q.pipelineConfig.AppName, q.pipelineConfig.AppStream, q.pipelineConfig.Summarised = r.apps.Name, r.apps.StreamName, q.summarised
	}
	return nil
}

// checkValues checks the plugin's own numbers and durations.
func (q *QlikSenseSessions) checkValues() error {
	switch {
	case q.ReadBufferSize < 0:
		return fmt.Errorf("read_buffer_size %d is negative: give a size such as \"8MiB\", or \"0\" for the OS default", q.ReadBufferSize)
	case q.ReadBufferSize > udp.MaxReadBuffer:
		return fmt.Errorf("read_buffer_size %d is over \"%dMiB\", the most the socket can take: "+
			"give a size such as \"8MiB\" (and raise net.core.rmem_max to match)", q.ReadBufferSize, udp.MaxReadBuffer>>20)
	case q.MaxDatagramSize > udp.MaxPayload:
		return fmt.Errorf("max_datagram_size %d is over %d bytes, the largest payload of a UDP datagram: give %d or less",
			q.MaxDatagramSize, udp.MaxPayload, udp.MaxPayload)
	case q.MaxDatagramSize <= 0:
		return fmt.Errorf("max_datagram_size %d must be positive: give a size such as \"64KiB\"", q.MaxDatagramSize)
	case q.SummaryInterval < 0:
		return fmt.Errorf("summary_interval %s is negative: use a duration such as \"1s\", or \"0s\" for summaries on gathers only",
			time.Duration(q.SummaryInterval))
	case q.StateSaveInterval <= 0:
		return fmt.Errorf("state_save_interval %s must be positive: use a duration such as \"10s\"", time.Duration(q.StateSaveInterval))
	case q.SessionMaxAge < 0:
		return fmt.Errorf("session_max_age %s is negative: use a duration such as \"8h\", or \"0s\" to never expire sessions",
			time.Duration(q.SessionMaxAge))
	case q.ReorderWindow < 0:
		return fmt.Errorf("reorder_window %s is negative: use a duration such as \"5s\", or \"0s\" to count every Start session as a new session",
			time.Duration(q.ReorderWindow))
	case q.MaxUsers <= 0:
		return fmt.Errorf("max_users %d must be positive: it bounds the users a sender can make the plugin track; "+
			"use e.g. 100000, well above your site's users", q.MaxUsers)
	case q.MaxApps <= 0:
		return fmt.Errorf("max_apps %d must be positive: it bounds the apps whose users the plugin counts; use e.g. 10000, above your site's apps",
			q.MaxApps)
	case q.MaxServers <= 0:
		return fmt.Errorf("max_servers %d must be positive: it bounds the proxy servers a sender can make the plugin track; "+
			"use e.g. 100, above your site's proxy nodes", q.MaxServers)
	case q.MaxUserSessions < 1 || q.MaxUserSessions > statefile.MaxSessions:
		return fmt.Errorf("max_user_sessions %d is out of range: give a number from 1 to %d; it bounds the sessions a sender can make the plugin track "+
			"for one user over all servers (Qlik Sense allows 5 parallel sessions per user by default); use e.g. %d", q.MaxUserSessions,
			statefile.MaxSessions, state.DefaultMaxUserSessions)
	case q.UsersMaxBytes < 2 || q.UsersMaxBytes > maxUsersMaxBytes:
		return fmt.Errorf("users_max_bytes %d is out of range: give a size from \"2B\" to \"%dKiB\"; "+
			"InfluxDB 1.x's documented limit for a string field is 64 KiB, 1.9+ and 2.x refuse points over 1 MiB", q.UsersMaxBytes, maxUsersMaxBytes/1024)
	}
	return q.checkDurations()
}

func (q *QlikSenseSessions) stateConfig() state.Config {
	return state.Config{ReorderWindow: time.Duration(q.ReorderWindow), MaxUsers: q.MaxUsers, MaxServers: q.MaxServers, MaxApps: q.MaxApps,
		MaxUserSessions: q.MaxUserSessions, SessionLimit: q.SessionLimit}
}

// Start opens the UDP socket, restores the state file, starts the log
// files, the pipeline and the API pollers.
func (q *QlikSenseSessions) Start(acc telegraf.Accumulator) error {
	listener, warning, err := udp.Listen(q.network, q.address, int(q.ReadBufferSize))
	if err != nil {
		if udp.AddressInUse(err) {
			return fmt.Errorf("listening on service_address %q failed: %w (is another program using the port?)", q.ServiceAddress, err)
		}
		return fmt.Errorf("listening on service_address %q failed: %w", q.ServiceAddress, err)
	}
	if warning != "" {
		q.Log.Warn(warning)
	}
	q.Log.Infof("Listening for log4net datagrams on %s", listener.LocalAddr())
	if all, port := udp.ListensOnAllInterfaces(q.address); all && len(q.udpConfig.Allowed) == 0 {
		q.Log.Warnf("Listening on all interfaces with no allowed_sources: any host that reaches UDP port %s can add users to the counts. "+
			"Set allowed_sources to your proxy nodes, e.g. allowed_sources = [\"10.0.0.11\", \"10.0.0.12\"], or listen on one address", port)
	}
	q.throttle = throttle.NewLog(q.Log, time.Minute)
	cfg := q.pipelineConfig
	cfg.Log, cfg.Throttle = q.Log, q.throttle
	q.pipeline = pipeline.New(cfg)
	resume := q.pipeline.Restore(time.Now())
	q.pipeline.Start(acc)
	if err := q.startLogFiles(resume); err != nil {
		listener.Close()
		q.pipeline.Stop()
		return err
	}
	q.pipeline.ShowRestored()

	q.listener = listener
	q.udp = udp.NewSource(listener, q.udpSourceConfig(), q.pipeline.Handle)
	q.wg.Go(q.udp.Run)
	q.proxyPoll.Start(q.pipeline, q.Log)
	q.startRepository(acc)
	return nil
}

// udpSourceConfig is the UDP source's configuration for the started
// pipeline.
func (q *QlikSenseSessions) udpSourceConfig() udp.Config {
	cfg := q.udpConfig
	cfg.Log = q.throttle
	if q.pipeline.WritesLines() {
		// Event lines copy what they take: the payloads need no copies.
		parser := *cfg.Parser
		parser.Retain = false
		cfg.Parser = &parser
	}
	return cfg
}

// Stop closes the socket, stops the log files and the pollers, then the
// pipeline, which saves the state a last time.
func (q *QlikSenseSessions) Stop() {
	if q.listener == nil {
		return
	}
	q.proxyPoll.Stop()
	q.stopRepository()
	q.listener.Close()
	q.stopLogFiles()
	q.wg.Wait()
	q.listener = nil
	q.pipeline.Stop()
}

// Gather emits the summaries and the intake counters.
func (q *QlikSenseSessions) Gather(acc telegraf.Accumulator) error {
	if q.pipeline == nil {
		return nil
	}
	q.pipeline.Gather(acc)
	q.emitInternal(acc)
	return nil
}

// emitInternal adds qliksense_sessions_internal: the pipeline's and the
// sources' counters.
func (q *QlikSenseSessions) emitInternal(acc telegraf.Accumulator) {
	fields := make(map[string]interface{}, 48)
	q.pipeline.InternalFields(fields)
	c := q.pipeline.Counters()
	u := q.udp.Stats()
	fields["datagrams_received"] = int64(u.Received)
	fields["rejected_source"] = int64(u.Rejected)
	fields["oversize"] = int64(u.Oversize + c.OversizeRows)
	if dropped, ok := q.udp.Dropped(); ok {
		fields["datagrams_dropped"] = int64(dropped)
	}
	q.proxyPoll.InternalFields(fields)
	q.repositoryInternal(fields)
	q.logStats(fields, c)
	acc.AddFields(metrics.Internal, fields, nil)
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
			MaxUserSessions:   state.DefaultMaxUserSessions,
			UsersMaxBytes:     config.Size(defaultUsersMaxBytes),
			SessionLimit:      defaultSessionLimit,
			SilenceAlert:      config.Duration(defaultSilenceAlert),
			Periods:           true,
		}
	})
}

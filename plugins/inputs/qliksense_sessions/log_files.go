package qliksense_sessions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/logfile"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// LogFiles is the [inputs.qliksense_sessions.logfile] table: the proxies'
// AuditActivity log files as a source beside UDP.
type LogFiles struct {
	Files         []string        `toml:"files"`
	ArchiveFiles  []string        `toml:"archive_files"`
	ArchiveMaxAge config.Duration `toml:"archive_max_age"`
	PollInterval  config.Duration `toml:"poll_interval"`
	GlobInterval  config.Duration `toml:"glob_interval"`
	MaxLineSize   config.Size     `toml:"max_line_size"`
}

// logSource is the running log file source and what the plugin keeps of it.
type logSource struct {
	source *logfile.Source
	cancel context.CancelFunc
	done   chan struct{}
	// servers are those whose events come from the files (by case-folded
	// name): the files are the truth for them, and their UDP events are
	// dropped, so that no session counts twice. Guarded by q.mu.
	servers map[string]string
	// excludeBuf is excluded's buffer for the rows.
	excludeBuf []byte
}

func (l *LogFiles) config(resume []logfile.Position, q *QlikSenseSessions) logfile.Config {
	return logfile.Config{
		Files:         l.Files,
		ArchiveFiles:  l.ArchiveFiles,
		ArchiveMaxAge: time.Duration(l.ArchiveMaxAge),
		PollInterval:  time.Duration(l.PollInterval),
		GlobInterval:  time.Duration(l.GlobInterval),
		MaxLineBytes:  int(l.MaxLineSize),
		Resume:        resume,
		Lock:          &q.mu,
		Log:           q.Log,
	}
}

// initLogFiles checks the logfile table.
func (q *QlikSenseSessions) initLogFiles() error {
	if q.LogFiles == nil {
		return nil
	}
	if _, err := logfile.New(q.LogFiles.config(nil, q)); err != nil {
		return fmt.Errorf("[inputs.qliksense_sessions.logfile]: %w", err)
	}
	return nil
}

// startLogFiles starts reading the log files, from the positions the state
// file saved, with the servers it said come from the files.
func (q *QlikSenseSessions) startLogFiles(resume []logfile.Position, fileServers []string) error {
	if q.LogFiles == nil {
		return nil
	}
	source, err := logfile.New(q.LogFiles.config(resume, q))
	if err != nil {
		return fmt.Errorf("[inputs.qliksense_sessions.logfile]: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &logSource{source: source, cancel: cancel, done: make(chan struct{}), servers: make(map[string]string)}
	for _, name := range fileServers {
		l.servers[strings.ToLower(name)] = name
	}
	q.logs = l
	started := time.Now()
	go func() {
		defer close(l.done)
		if err := source.Run(ctx, q.handleRow); err != nil {
			q.Log.Errorf("Reading the log files failed: %v", err)
		}
	}()
	q.goRun(func() {
		select {
		case <-q.done:
			return
		case <-source.Rebuilt():
		}
		q.mu.Lock()
		expired := 0
		if q.SessionMaxAge > 0 {
			expired = q.state.Expire(time.Now().Add(-time.Duration(q.SessionMaxAge)))
		}
		users, sessions := q.state.ActiveUsers(), q.state.ActiveSessions()
		q.mu.Unlock()
		stats := source.Stats()
		q.Log.Infof("Read %d rows of %d log files in %s: %d sessions of %d users open (%d older than session_max_age closed)",
			stats.Rows, stats.FilesRead, time.Since(started).Round(time.Millisecond), sessions, users, expired)
		q.summaryDue()
	})
	return nil
}

// stopLogFiles stops the reader and waits for it; q.mu must not be held,
// as the reader takes it for each row.
func (q *QlikSenseSessions) stopLogFiles() {
	if q.logs == nil {
		return
	}
	q.logs.cancel()
	<-q.logs.done
}

// handleRow runs one row of a log file through excludes and state. The
// source calls it with q.mu held (logfile.Config.Lock).
func (q *QlikSenseSessions) handleRow(row logfile.Row) {
	switch row.Status {
	case event.Malformed:
		if row.Reason == logfile.ReasonOversize {
			q.stats.oversize.Add(1) // the source logs it
			return
		}
		q.stats.logRowsMalformed.Add(1)
		q.throttle.log("log_malformed", "Skipped a malformed row of %s: %s: %s", row.Path, row.Reason, excerpt(row.Line))
		return
	case event.Ignored:
		q.stats.eventsIgnored.Add(1)
		return
	}
	ev := row.Event
	if q.excluded(ev, &q.logs.excludeBuf) {
		q.stats.eventsExcluded.Add(1)
		return
	}
	q.claimServer(ev.Server)
	q.stats.eventsAccepted.Add(1)
	outcome := q.state.Apply(ev, ev.Time)
	if q.EmitEvents && !row.Rebuilding {
		// The event aliases the source's buffer: the metric gets copies.
		owned := *ev
		owned.Server, owned.Directory, owned.UserID = strings.Clone(ev.Server), strings.Clone(ev.Directory), strings.Clone(ev.UserID)
		owned.Origin, owned.Context, owned.Message = strings.Clone(ev.Origin), strings.Clone(ev.Context), strings.Clone(ev.Message)
		q.acc.AddMetric(eventMetric(&owned, q.state.ActiveUsers(), q.EventMessage, ev.Time))
	}
	if outcome == state.Refused {
		q.throttle.log("refused", "Refused %s for %s on %s: the plugin tracks max_users = %d users on max_servers = %d servers; raise them if your site is that large",
			ev.Command, ev.UserName(), ev.Server, q.MaxUsers, q.MaxServers)
	}
	if (outcome == state.Changed || q.state.AppsChanged()) && !row.Rebuilding {
		q.summaryDue()
	}
}

// claimServer makes the files the source of a server's sessions the first
// time they name it: what UDP said of it goes (the files say it all again,
// with session ids), and its UDP events are dropped from now on. Called
// with q.mu held.
func (q *QlikSenseSessions) claimServer(name string) {
	key := strings.ToLower(name)
	if _, claimed := q.logs.servers[key]; claimed {
		return
	}
	q.logs.servers[key] = strings.Clone(name)
	if dropped := q.state.DropServer(name); dropped > 0 {
		q.Log.Infof("Server %s is read from its log files now: the %d sessions its UDP events had opened are replaced by the files'", name, dropped)
	}
}

// fromFiles tells whether a server's events come from the log files.
// Called with q.mu held.
func (q *QlikSenseSessions) fromFiles(server string) bool {
	if q.logs == nil || len(q.logs.servers) == 0 {
		return false
	}
	for key := range q.logs.servers {
		if len(key) == len(server) && strings.EqualFold(key, server) {
			return true
		}
	}
	return false
}

// fileServers lists the servers read from the files, for the state file.
// Called with q.mu held.
func (q *QlikSenseSessions) fileServers() []string {
	if q.logs == nil {
		return nil
	}
	names := make([]string, 0, len(q.logs.servers))
	for _, name := range q.logs.servers {
		names = append(names, name)
	}
	return names
}

// logPositions are the positions to save. Called with q.mu held, so that
// they match the rows the state has seen.
func (q *QlikSenseSessions) logPositions() []logfile.Position {
	if q.logs == nil {
		return nil
	}
	return q.logs.source.Positions()
}

// logStats adds the source's counters to qliksense_sessions_internal.
func (q *QlikSenseSessions) logStats(fields map[string]interface{}) {
	if q.logs == nil {
		return
	}
	s := q.logs.source.Stats()
	fields["log_rows"] = int64(s.Rows)
	fields["log_rows_malformed"] = int64(q.stats.logRowsMalformed.Load())
	fields["log_files_read"] = int64(s.FilesRead)
	fields["log_files_skipped"] = int64(s.FilesSkipped)
	fields["log_rotations"] = int64(s.Rotations)
	fields["log_truncations"] = int64(s.Truncations)
	fields["log_read_errors"] = int64(s.ReadErrors)
	fields["log_open_files"] = int64(s.OpenFiles)
	fields["udp_events_superseded"] = int64(q.stats.udpSuperseded.Load())
}

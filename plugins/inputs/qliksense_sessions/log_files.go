package qliksense_sessions

import (
	"context"
	"fmt"
	"time"

	"github.com/influxdata/telegraf/config"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/pipeline"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/logfile"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
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

// logSource is the running log file source.
type logSource struct {
	source *logfile.Source
	cancel context.CancelFunc
	done   chan struct{}
	parsed event.Parsed // the row being handed on; only the source's goroutine uses it
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
// file saved; saves take the files' positions with the state's records.
func (q *QlikSenseSessions) startLogFiles(resume []statefile.Position) error {
	if q.LogFiles == nil {
		return nil
	}
	source, err := logfile.New(q.LogFiles.config(fromStateFile(resume), q))
	if err != nil {
		return fmt.Errorf("[inputs.qliksense_sessions.logfile]: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &logSource{source: source, cancel: cancel, done: make(chan struct{})}
	q.logs = l
	q.pipeline.SetCheckpoint(l.checkpoint)
	started := time.Now()
	go func() {
		defer close(l.done)
		if err := source.Run(ctx, l.handleRow(q.pipeline)); err != nil {
			q.Log.Errorf("Reading the log files failed: %v", err)
		}
	}()
	q.wg.Go(func() {
		select {
		case <-q.done:
			return
		case <-source.Rebuilt():
		}
		expired := 0
		if q.SessionMaxAge > 0 {
			expired = q.pipeline.Expire(time.Now().Add(-time.Duration(q.SessionMaxAge)))
		}
		users, sessions := q.pipeline.ActiveUsers(), q.pipeline.ActiveSessions()
		stats := source.Stats()
		q.Log.Infof("Read %d rows of %d log files in %s: %d sessions of %d users open (%d older than session_max_age closed)",
			stats.Rows, stats.FilesRead, time.Since(started).Round(time.Millisecond), sessions, users, expired)
		q.pipeline.SummaryDue()
	})
	return nil
}

// checkpoint takes the state's records (records) and the files' positions
// while no row is being handled, so that the positions saved are after
// exactly the rows the records reflect.
func (l *logSource) checkpoint(records func()) []statefile.Position {
	return toStateFile(l.source.Checkpoint(records))
}

// handleRow hands each row to the pipeline as the parser made it.
func (l *logSource) handleRow(p *pipeline.Pipeline) func(logfile.Row) {
	return func(row logfile.Row) {
		in := &l.parsed
		*in = event.Parsed{Status: row.Status, Reason: row.Reason, Raw: row.Line, Oversize: row.Reason == logfile.ReasonOversize,
			From: event.Origin{Path: row.Path, Rebuilding: row.Rebuilding}}
		if row.Event != nil {
			in.Event = *row.Event
		}
		p.Handle(in)
	}
}

// stopLogFiles stops the reader and waits for it.
func (q *QlikSenseSessions) stopLogFiles() {
	if q.logs == nil {
		return
	}
	q.logs.cancel()
	<-q.logs.done
}

// logStats adds the source's counters to qliksense_sessions_internal.
func (q *QlikSenseSessions) logStats(fields map[string]interface{}, c pipeline.Counters) {
	if q.logs == nil {
		return
	}
	s := q.logs.source.Stats()
	fields["log_rows"] = int64(s.Rows)
	fields["log_rows_malformed"] = int64(c.LogRowsMalformed)
	fields["log_files_read"] = int64(s.FilesRead)
	fields["log_files_skipped"] = int64(s.FilesSkipped)
	fields["log_rotations"] = int64(s.Rotations)
	fields["log_truncations"] = int64(s.Truncations)
	fields["log_read_errors"] = int64(s.ReadErrors)
	fields["log_open_files"] = int64(s.OpenFiles)
	fields["udp_events_superseded"] = int64(c.UDPSuperseded)
}

// fromStateFile and toStateFile convert the positions of the state file to
// the source's and back.
func fromStateFile(saved []statefile.Position) []logfile.Position {
	out := make([]logfile.Position, 0, len(saved))
	for _, p := range saved {
		out = append(out, logfile.Position(p))
	}
	return out
}

func toStateFile(positions []logfile.Position) []statefile.Position {
	out := make([]statefile.Position, 0, len(positions))
	for _, p := range positions {
		out = append(out, statefile.Position(p))
	}
	return out
}

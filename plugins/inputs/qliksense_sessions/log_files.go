package qliksense_sessions

import (
	"fmt"
	"time"

	"github.com/influxdata/telegraf/config"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/logfeed"
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

func (l *LogFiles) config(q *QlikSenseSessions) logfile.Config {
	return logfile.Config{
		Files:         l.Files,
		ArchiveFiles:  l.ArchiveFiles,
		ArchiveMaxAge: time.Duration(l.ArchiveMaxAge),
		PollInterval:  time.Duration(l.PollInterval),
		GlobInterval:  time.Duration(l.GlobInterval),
		MaxLineBytes:  int(l.MaxLineSize),
		Log:           q.Log,
	}
}

// initLogFiles checks the logfile table.
func (q *QlikSenseSessions) initLogFiles() error {
	if q.LogFiles == nil {
		return nil
	}
	if _, err := logfile.New(q.LogFiles.config(q)); err != nil {
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
	feed, err := logfeed.New(q.LogFiles.config(q), resume)
	if err != nil {
		return fmt.Errorf("[inputs.qliksense_sessions.logfile]: %w", err)
	}
	q.logs = feed
	feed.Start(q.pipeline, q.Log, time.Duration(q.SessionMaxAge))
	return nil
}

// stopLogFiles stops the reader and waits for it.
func (q *QlikSenseSessions) stopLogFiles() {
	if q.logs != nil {
		q.logs.Stop()
	}
}

// logStats adds the source's counters to qliksense_sessions_internal.
func (q *QlikSenseSessions) logStats(fields map[string]interface{}, c pipeline.Counters) {
	if q.logs != nil {
		q.logs.InternalFields(fields, c)
	}
}

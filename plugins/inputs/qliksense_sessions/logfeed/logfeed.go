// Package logfeed runs the log file source (sources/logfile) into the
// pipeline: each row its parser read becomes an event.Parsed for
// pipeline.Handle; the pipeline's saves take the files' positions with the
// state's records; once the files are rebuilt it expires what is older than
// session_max_age, logs what they held and asks for a summary.
package logfeed

import (
	"context"
	"sync"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/pipeline"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/logfile"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/statefile"
)

// Feed is the running log file source.
type Feed struct {
	source *logfile.Source
	cancel context.CancelFunc
	done   chan struct{} // closed when the source's Run returned
	wg     sync.WaitGroup
	parsed event.Parsed // the row being handed on; only the source's goroutine uses it
}

// New makes the source of cfg, resuming from the positions the state file
// saved.
func New(cfg logfile.Config, resume []statefile.Position) (*Feed, error) {
	cfg.Resume = fromStateFile(resume)
	source, err := logfile.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Feed{source: source, done: make(chan struct{})}, nil
}

// Source is the log file source, for its counters.
func (f *Feed) Source() *logfile.Source { return f.source }

// Start reads the files into p until Stop; the pipeline's saves take the
// files' positions (Checkpoint). After the rebuild, sessions without an
// event for sessionMaxAge (0: none) are closed.
func (f *Feed) Start(p *pipeline.Pipeline, log telegraf.Logger, sessionMaxAge time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	p.SetCheckpoint(f.Checkpoint)
	started := time.Now()
	p.HoldPeriodClock(true) // the rows' times make the periods until rebuilt
	go func() {
		defer close(f.done)
		if err := f.source.Run(ctx, f.handleRow(p)); err != nil {
			log.Errorf("Reading the log files failed: %v", err)
		}
	}()
	f.wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-f.source.Rebuilt():
		}
		expired := 0
		if sessionMaxAge > 0 {
			expired = p.Expire(time.Now().Add(-sessionMaxAge))
		}
		p.HoldPeriodClock(false)
		users, sessions := p.ActiveUsers(), p.ActiveSessions()
		stats := f.source.Stats()
		log.Infof("Read %d rows of %d log files in %s: %d sessions of %d users open (%d older than session_max_age closed)",
			stats.Rows, stats.FilesRead, time.Since(started).Round(time.Millisecond), sessions, users, expired)
		p.SummaryDue()
	})
}

// Stop stops the reader and waits for it.
func (f *Feed) Stop() {
	f.cancel()
	<-f.done
	f.wg.Wait()
}

// Checkpoint takes the state's records (records) and the files' positions
// while no row is being handled, so that the positions saved are after
// exactly the rows the records reflect.
func (f *Feed) Checkpoint(records func()) []statefile.Position {
	return toStateFile(f.source.Checkpoint(records))
}

// handleRow hands each row to the pipeline as the parser made it.
func (f *Feed) handleRow(p *pipeline.Pipeline) func(logfile.Row) {
	return func(row logfile.Row) {
		in := &f.parsed
		*in = event.Parsed{Status: row.Status, Reason: row.Reason, Raw: row.Line, Oversize: row.Reason == logfile.ReasonOversize,
			From: event.Origin{Path: row.Path, Rebuilding: row.Rebuilding}}
		if row.Event != nil {
			in.Event = *row.Event
		}
		p.Handle(in)
	}
}

// InternalFields adds the source's counters, and the pipeline's of its
// rows, to qliksense_sessions_internal.
func (f *Feed) InternalFields(fields map[string]interface{}, c pipeline.Counters) {
	s := f.source.Stats()
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

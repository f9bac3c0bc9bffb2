// Package logfile is the log file source: it reads the Qlik Sense proxies'
// audit activity logs, C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\<HOST>_AuditActivity_Proxy.txt,
// several servers' files at once, and hands every row, parsed by
// parsers/auditlog, to one handler: at start in time-stamp order across the
// files, then as read.
//
// # What Qlik Sense does with the files
//
// The proxy writes one live file per node, <HOST>_AuditActivity_Proxy.txt:
// tab-separated rows, a header row first. At a service restart, at 8 MB and
// after 12 hours it closes the file, renames it in the same folder to
// <HOST>_AuditActivity_Proxy_<UTC time>Z.log and starts a new .txt with a
// new header; the repository service later moves the .log to the archive
// share, \\<server>\<share>\ArchivedLogs\<HOST>\Proxy\Audit\ (research notes
// §1.1, §1.2).
//
// # What the source does
//
// Run first rebuilds, then follows:
//
//   - Rebuild: it reads the rotated and archived files (those beside the
//     live ones, found by the glob <live glob without .txt>_*.log, and those
//     Config.ArchiveFiles match) that a saved Position names, from there,
//     or that were modified within Config.ArchiveMaxAge, in full, one copy
//     of each (a file both beside the live one and in ArchivedLogs is read
//     once), and the live files, from the beginning or from their saved
//     Position. The rows of all these files are merged in time-stamp order
//     (merge.go; the rows' own UTC offsets compared as instants), so that
//     the rows of several servers are applied as they happened: each file's
//     rows stay in file order (also where its time stamps go back), a row
//     without a time stamp (ignored or malformed) goes with the row before
//     it, and equal time stamps go to the older rotated file, then to the
//     live path first by name. Each file holds at most one row waiting (in
//     its read buffer), and a file is read only once the merge reaches the
//     time of its first row. These rows come with Row.Rebuilding set;
//     Rebuilt is closed when they are done.
//   - Follow: every PollInterval it reads what the live files gained,
//     delivering complete rows only (a partial last line waits for its line
//     end). When a live file has nothing new, the source checks the path: if
//     it names no file, or one whose first bytes differ or that is longer
//     than the one followed (a rotation: renamed away, and a new file, with
//     a new header, in its place), the old file is read to its end through
//     the handle still open on it, then closed. Files that lived under the
//     live name for less than a poll, rotated away before the source ever
//     opened them, come next: the rotated files of that path (its rotated
//     glob, in the same folder) modified since the old file's last write
//     that no Position names, oldest first. Then the new file is read from
//     its first row. If the file shrank below what was read or its first
//     bytes changed (truncated, or rewritten in place), it is read again
//     from the start. Every GlobInterval the globs are expanded again, so
//     servers whose files appear later are followed too, from the rotated
//     files of theirs modified since the start on.
//
// Limits: a file that lived under the live name for less than a poll and
// was moved out of the live folder (to ArchivedLogs) before the next poll
// is not read while following, only by a later start within ArchiveMaxAge
// (the repository service moves rotated files much later than that); so is
// one whose live glob does not end in .txt (no rotated names to look at);
// a writer that went on writing to a file after renaming it would lose
// those rows unless the file is looked at again by a later rotation
// (log4net's rolling appender closes the file, renames it, then opens the
// new one); rows of a file rewritten in place may be delivered twice.
//
// # Why its own reader, not influxdata/tail
//
// Telegraf's tailer, github.com/influxdata/tail, was measured against this
// reader (same 8 MB file of 20,277 rows, same parser, two cores): it
// delivers 610,000 to 680,000 rows/s and allocates 19 MB per file (a string
// and a Line per row, sent over a channel); this reader 1.7 to 2.3 million
// rows/s (9 to 12 ms for the file) and 83 KB per file (BenchmarkRebuild). Worse, it loses rows at a rotation: when the path
// names a new file it reopens the path at once, without reading what the
// old file gained since its last read. With rows written just before each
// of 30 renames, polling (Telegraf's watch_method for Windows) lost all 90,
// inotify 23. Its Tell is documented to be off by up to a line, where
// Positions need the exact offset after each row, and it reopens a
// truncated file without telling. Reading is simple enough to own: one
// buffer per file, reused, rows handed over in place.
//
// # File identity
//
// A file is known by its first bytes, not by its name (a rotated file
// changes name and folder) and not by inode or file index (Windows gives no
// inode, and file indexes over SMB shares are not reliable). A Position
// holds the SHA-256 of the file's first FingerprintBytes bytes (4 KiB: the
// header and the first rows, whose Sequence#, Timestamp to the millisecond
// and Id make them unique), or of fewer when the source had read fewer: then
// the Position's offset is within those bytes, so any file that starts with
// them has had exactly the same rows delivered, and resuming it there is
// right whichever file it is. A file that matches no Position is new.
//
// # Windows
//
// Files are opened with FILE_SHARE_READ, FILE_SHARE_WRITE and
// FILE_SHARE_DELETE (open_windows.go), so that the proxy can rename the live
// file and the repository service can move it while the source reads it;
// handles on rotated files are closed as soon as they are read to their end.
package logfile

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Defaults and limits of Config.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultGlobInterval = 10 * time.Second
	DefaultMaxLineBytes = 64 << 10

	MinPollInterval = 10 * time.Millisecond
	MaxPollInterval = time.Minute
	MinGlobInterval = 100 * time.Millisecond
	MinMaxLineBytes = 1 << 10
	MaxMaxLineBytes = 16 << 20

	// FingerprintBytes is how many of a file's first bytes identify it.
	FingerprintBytes = 4096
)

// ReasonOversize is the Reason of a Row longer than Config.MaxLineBytes:
// its Line holds only the row's first bytes.
const ReasonOversize = "the row is longer than max_line_size (it was skipped)"

// ReasonNoHeader is the Reason of a row that follows a header row that could
// not be read: the columns are unknown until the next good header.
const ReasonNoHeader = "no readable header row above this row"

// Option names, for error messages: the plugin's TOML keys.
const (
	optPrefix        = "logfile."
	optFiles         = optPrefix + "files"
	optArchiveFiles  = optPrefix + "archive_files"
	optArchiveMaxAge = optPrefix + "archive_max_age"
	optPollInterval  = optPrefix + "poll_interval"
	optGlobInterval  = optPrefix + "glob_interval"
	optMaxLineBytes  = optPrefix + "max_line_size"
)

// Config says which files to read and how.
type Config struct {
	// Files are globs (filepath.Glob) of the live files, e.g.
	// C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\*_AuditActivity_Proxy.txt.
	// A glob that ends in .txt also names the rotated files in the same
	// folder: the same glob without .txt, followed by _*.log.
	Files []string
	// ArchiveFiles are globs of archived files, e.g.
	// \\sense-central\QlikSenseSharedPersistence\ArchivedLogs\*\Proxy\Audit\*_AuditActivity_Proxy_*.log.
	// They are looked at once, at start.
	ArchiveFiles []string
	// ArchiveMaxAge: at start, rotated and archived files modified within
	// this long are read in full, so that sessions that began before the
	// live file count. 0 reads only those a saved Position names.
	ArchiveMaxAge time.Duration
	// PollInterval is how often the live files are read for new rows.
	PollInterval time.Duration
	// GlobInterval is how often Files are expanded again for new files.
	GlobInterval time.Duration
	// MaxLineBytes: longer rows (line end not counted) are skipped,
	// counted in Stats.Oversize, logged, and delivered as Malformed with
	// ReasonOversize.
	MaxLineBytes int
	// Resume are the Positions a previous run saved: each file they name is
	// read from after its last delivered row.
	Resume []Position
	// Log takes the source's log lines; nil discards them.
	Log Logger

	// globWarnEvery is how often a glob of Files that still matches no file
	// is warned about again (DefaultGlobWarnEvery; tests make it shorter).
	globWarnEvery time.Duration
}

// Logger is what the source logs through (telegraf.Logger has it).
type Logger interface {
	// Errorf logs an error.
	Errorf(format string, args ...any)
	// Warnf logs a warning.
	Warnf(format string, args ...any)
	// Infof logs a line of information.
	Infof(format string, args ...any)
	// Debugf logs a line for debugging.
	Debugf(format string, args ...any)
}

// discard is the Logger of a Config without one.
type discard struct{}

// Errorf discards the line.
func (discard) Errorf(string, ...any) {}

// Warnf discards the line.
func (discard) Warnf(string, ...any) {}

// Infof discards the line.
func (discard) Infof(string, ...any) {}

// Debugf discards the line.
func (discard) Debugf(string, ...any) {}

// Row is one row of a log file, as the handler gets it.
type Row struct {
	// Path is the file's name when the source opened it (a rotated file
	// keeps its live name until it is read to its end).
	Path string
	// Line is the row without its line end, valid only during the call.
	Line []byte
	// Status and Reason are what auditlog made of the row (ReasonOversize
	// and ReasonNoHeader are this package's).
	Status event.Status
	Reason string
	// Event is the parsed event when Status is event.Accepted, else nil.
	// Its strings alias Line: valid only during the call.
	Event *event.Event
	// Offset is the position in the file after the row.
	Offset int64
	// Rebuilding: the row was in the files when Run started (history read
	// to rebuild the open sessions), not written since.
	Rebuilding bool
}

// Stats are the source's counters since New.
type Stats struct {
	Rows         uint64 // rows delivered (header rows are not)
	Bytes        uint64 // bytes read
	Oversize     uint64 // rows longer than MaxLineBytes
	FilesRead    uint64 // files opened to read
	FilesSkipped uint64 // files that are not audit activity logs, and paths that are not regular files (FIFOs, sockets, devices, folders)
	Rotations    uint64 // live files renamed away or deleted, and read to their end
	Truncations  uint64 // files that shrank or were rewritten, read again from the start
	ReadErrors   uint64
	OpenFiles    int   // files open now
	BufferBytes  int64 // read buffers now: 64 KiB per open file, more while a long row is read
}

// Source reads the log files. Make one with New, run it with Run.
type Source struct {
	cfg Config
	// deliverMu is held around each handler call and the offset update
	// after it (see Checkpoint).
	deliverMu sync.Mutex
	log       Logger
	rotGlobs  []string // globs of the rotated files beside the live ones
	rebuilt   chan struct{}
	started   time.Time // when Run began to read; set before following

	// mu guards the table of files and their offsets, which Positions reads
	// from another goroutine.
	mu        sync.Mutex
	live      []*livePath // sorted by path
	reading   []*file     // rotated or archived files being read
	following bool        // rebuild is over
	done      []Position  // files read to their end
	pending   []Position  // saved positions no file has matched yet

	stats struct {
		rows, bytes, oversize, filesRead, filesSkipped, rotations, truncations, readErrors atomic.Uint64
		openFiles, bufBytes                                                                atomic.Int64
	}
	scratch  [FingerprintBytes]byte // for reading first bytes again
	oversize limitedLog
	readErr  limitedLog
	// special are the paths skipped as not regular files, with their kind:
	// each is warned about once. Only Run's goroutine uses it.
	special map[string]string
	// globs are the state of each of cfg.Files, for the warnings about those
	// that match nothing. Only Run's goroutine uses them.
	globs []globState
	ran   atomic.Bool
	// polls counts the rounds of polling the live files done, for tests to
	// know that the source has looked at the files since they changed them.
	polls atomic.Uint64
}

// livePath is a path a live glob matched, and the file followed there.
type livePath struct {
	path string
	cur  *file // nil while the path names no file
	// followed: a file was followed here (and logged) since the path was
	// found; the files after a rotation are not logged again.
	followed bool
	// openErr lets out the path's open errors once a minute: each path
	// that cannot be read is named.
	openErr limitedLog
	// rotatedAt is the modification time of the file last followed here,
	// once it was rotated away and read to its end, until a new file is
	// followed at the path: rotated files of the path modified since then
	// that no Position names are read before the new file (catchUp). For a
	// path that named no file at the start, or was found later, it is the
	// start.
	rotatedAt time.Time
}

// New checks cfg and fills in its defaults. Errors name the option.
func New(cfg Config) (*Source, error) {
	if len(cfg.Files) == 0 {
		return nil, fmt.Errorf(`%s is empty: give the live audit activity logs, `+
			`e.g. 'C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\*_AuditActivity_Proxy.txt'`, optFiles)
	}
	if err := checkGlobs(optFiles, cfg.Files); err != nil {
		return nil, err
	}
	if err := checkGlobs(optArchiveFiles, cfg.ArchiveFiles); err != nil {
		return nil, err
	}
	switch {
	case cfg.ArchiveMaxAge < 0:
		return nil, fmt.Errorf("%s is negative (%s)", optArchiveMaxAge, cfg.ArchiveMaxAge)
	case len(cfg.ArchiveFiles) > 0 && cfg.ArchiveMaxAge == 0:
		return nil, fmt.Errorf("%s is set but %s is 0, so no archived file would be read: give an age such as \"12h\"", optArchiveFiles, optArchiveMaxAge)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.PollInterval < MinPollInterval || cfg.PollInterval > MaxPollInterval {
		return nil, fmt.Errorf("%s is %s: give %s to %s (default %s)", optPollInterval, cfg.PollInterval, MinPollInterval, MaxPollInterval, DefaultPollInterval)
	}
	if cfg.GlobInterval == 0 {
		cfg.GlobInterval = DefaultGlobInterval
	}
	if cfg.GlobInterval < MinGlobInterval {
		return nil, fmt.Errorf("%s is %s: give at least %s (default %s)", optGlobInterval, cfg.GlobInterval, MinGlobInterval, DefaultGlobInterval)
	}
	if cfg.MaxLineBytes == 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.MaxLineBytes < MinMaxLineBytes || cfg.MaxLineBytes > MaxMaxLineBytes {
		return nil, fmt.Errorf("%s is %d bytes: give %d to %d (default %d; rows with long user agents pass 8 KiB)",
			optMaxLineBytes, cfg.MaxLineBytes, MinMaxLineBytes, MaxMaxLineBytes, DefaultMaxLineBytes)
	}
	if cfg.globWarnEvery == 0 {
		cfg.globWarnEvery = DefaultGlobWarnEvery
	}
	s := &Source{cfg: cfg, log: cfg.Log, rebuilt: make(chan struct{})}
	if s.log == nil {
		s.log = discard{}
	}
	for _, g := range cfg.Files {
		if rot, ok := rotatedGlob(g); ok {
			s.rotGlobs = append(s.rotGlobs, rot)
		}
	}
	var bad int
	for _, p := range cfg.Resume {
		if !validPosition(p) {
			bad++
			continue
		}
		s.pending = append(s.pending, p)
	}
	if bad > 0 {
		s.log.Warnf("%d saved log file positions are not valid and were left out (their files are read as new ones)", bad)
	}
	return s, nil
}

func checkGlobs(option string, globs []string) error {
	for _, g := range globs {
		if strings.TrimSpace(g) == "" {
			return fmt.Errorf("%s: an empty path", option)
		}
		if _, err := filepath.Match(g, ""); err != nil {
			return fmt.Errorf("%s: %q is not a valid glob (* and ? are wildcards, [...] a set of characters): %w", option, g, err)
		}
	}
	return nil
}

// Stats returns the counters.
func (s *Source) Stats() Stats {
	return Stats{
		Rows:         s.stats.rows.Load(),
		Bytes:        s.stats.bytes.Load(),
		Oversize:     s.stats.oversize.Load(),
		FilesRead:    s.stats.filesRead.Load(),
		FilesSkipped: s.stats.filesSkipped.Load(),
		Rotations:    s.stats.rotations.Load(),
		Truncations:  s.stats.truncations.Load(),
		ReadErrors:   s.stats.readErrors.Load(),
		OpenFiles:    int(s.stats.openFiles.Load()),
		BufferBytes:  s.stats.bufBytes.Load(),
	}
}

// limitedLog lets a kind of log line out once a minute.
type limitedLog struct{ throttle.Throttle }

func (l *limitedLog) logf(to func(string, ...any), format string, args ...any) {
	ok, n := l.Allow(time.Now(), time.Minute)
	if !ok {
		return
	}
	if n > 0 {
		format += fmt.Sprintf(" (and %d more like it in the last minute)", n)
	}
	to(format, args...)
}

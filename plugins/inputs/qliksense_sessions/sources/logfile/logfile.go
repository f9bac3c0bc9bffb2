// Package logfile is the log file source: it reads the Qlik Sense proxies'
// audit activity logs, C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\<HOST>_AuditActivity_Proxy.txt,
// several servers' files at once, and hands every row, parsed by
// parsers/auditlog, to one handler, in file order.
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
//     or that were modified within Config.ArchiveMaxAge, in full; oldest
//     first, one copy of each (a file both beside the live one and in
//     ArchivedLogs is read once). Then the live files, from the beginning or
//     from their saved Position. These rows come with Row.Rebuilding set;
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
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
	// Lock, if set, is held around each handler call together with the
	// update of the Positions that follows it, so that Positions taken
	// under Lock match exactly the rows the handler has seen. The handler
	// must then not take Lock itself.
	Lock sync.Locker
	// Log takes the source's log lines; nil discards them.
	Log Logger
}

// Logger is what the source logs through (telegraf.Logger has it).
type Logger interface {
	Errorf(format string, args ...any)
	Warnf(format string, args ...any)
	Infof(format string, args ...any)
	Debugf(format string, args ...any)
}

type discard struct{}

func (discard) Errorf(string, ...any) {}
func (discard) Warnf(string, ...any)  {}
func (discard) Infof(string, ...any)  {}
func (discard) Debugf(string, ...any) {}

// Position is how far a file has been delivered, for the state file.
type Position struct {
	// Path is where the file was last read; informational: files are
	// matched by fingerprint.
	Path string `json:"path"`
	// Fingerprint is the hex SHA-256 of the file's first FingerprintBytes
	// bytes (FingerprintBytes of this struct).
	Fingerprint      string `json:"fingerprint"`
	FingerprintBytes int64  `json:"fingerprint_bytes"`
	// Offset is the position after the last row delivered.
	Offset int64 `json:"offset"`
	// Seen is when the file was last read. Positions of files not read for
	// longer than max(24h, ArchiveMaxAge+1h) are forgotten.
	Seen time.Time `json:"seen"`
}

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
	FilesSkipped uint64 // files that are not audit activity logs
	Rotations    uint64 // live files renamed away or deleted, and read to their end
	Truncations  uint64 // files that shrank or were rewritten, read again from the start
	ReadErrors   uint64
	OpenFiles    int   // files open now
	BufferBytes  int64 // read buffers now: 64 KiB per open file, more while a long row is read
}

// Source reads the log files. Make one with New, run it with Run.
type Source struct {
	cfg      Config
	log      Logger
	rotGlobs []string // globs of the rotated files beside the live ones
	rebuilt  chan struct{}
	started  time.Time // when Run began to read; set before following

	// mu guards the table of files and their offsets, which Positions reads
	// from another goroutine.
	mu        sync.Mutex
	live      []*livePath // sorted by path
	reading   *file       // a rotated or archived file being read at start
	following bool        // rebuild is over
	done      []Position  // files read to their end
	pending   []Position  // saved positions no file has matched yet

	stats struct {
		rows, bytes, oversize, filesRead, filesSkipped, rotations, truncations, readErrors atomic.Uint64
		openFiles, bufBytes                                                                atomic.Int64
	}
	ev       event.Event
	scratch  [FingerprintBytes]byte // for reading first bytes again
	oversize limitedLog
	readErr  limitedLog
	ran      atomic.Bool
}

// livePath is a path a live glob matched, and the file followed there.
type livePath struct {
	path string
	cur  *file // nil while the path names no file
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
		return nil, fmt.Errorf(`%s is empty: give the live audit activity logs, e.g. 'C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\*_AuditActivity_Proxy.txt'`, optFiles)
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
		return nil, fmt.Errorf("%s is %d bytes: give %d to %d (default %d; rows with long user agents pass 8 KiB)", optMaxLineBytes, cfg.MaxLineBytes, MinMaxLineBytes, MaxMaxLineBytes, DefaultMaxLineBytes)
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

// rotatedGlob turns the glob of live files .../X.txt into the glob of their
// rotated copies in the same folder, .../X_*.log.
func rotatedGlob(g string) (string, bool) {
	if len(g) < 4 || !strings.EqualFold(g[len(g)-4:], ".txt") {
		return "", false
	}
	return g[:len(g)-4] + "_*.log", true
}

func validPosition(p Position) bool {
	if p.FingerprintBytes <= 0 || p.FingerprintBytes > FingerprintBytes || p.Offset < 0 || len(p.Fingerprint) != 2*sha256.Size {
		return false
	}
	// A fingerprint shorter than FingerprintBytes covers every byte read.
	if p.FingerprintBytes < FingerprintBytes && p.Offset > p.FingerprintBytes {
		return false
	}
	_, err := hex.DecodeString(p.Fingerprint)
	return err == nil
}

// Rebuilt is closed when Run has delivered the rows that were in the files
// at its start.
func (s *Source) Rebuilt() <-chan struct{} { return s.rebuilt }

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

// forgetAfter is how long positions of files no longer read are kept.
func (s *Source) forgetAfter() time.Duration {
	return max(24*time.Hour, s.cfg.ArchiveMaxAge+time.Hour)
}

// Positions returns where each known file stands: the files being read,
// those read to their end, and saved positions no file has matched yet
// (a share may come back). It may be called from any goroutine; see
// Config.Lock for taking it together with the state.
func (s *Source) Positions() []Position {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	var out []Position
	for _, lp := range s.live {
		if p, ok := lp.cur.position(now); ok {
			out = append(out, p)
		}
	}
	if p, ok := s.reading.position(now); ok {
		out = append(out, p)
	}
	out = append(out, s.done...)
	out = append(out, s.pending...)
	return out
}

func (s *Source) pruneLocked(now time.Time) {
	if !s.following {
		return // saved positions wait for the files found at start
	}
	cutoff := now.Add(-s.forgetAfter())
	old := func(p Position) bool { return p.Seen.Before(cutoff) }
	s.done = slices.DeleteFunc(s.done, old)
	s.pending = slices.DeleteFunc(s.pending, old)
}

// Run reads until ctx is done: first the rows already in the files (see the
// package documentation), then new ones. It calls handle for each row, in
// file order, from the goroutine that called Run. Run may be called once.
func (s *Source) Run(ctx context.Context, handle func(Row)) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("logfile: Run called twice")
	}
	defer s.closeAll()
	s.rebuild(ctx, handle)
	s.mu.Lock()
	s.following = true
	s.mu.Unlock()
	close(s.rebuilt)
	if ctx.Err() != nil {
		return nil
	}

	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	nextGlob := time.Now().Add(s.cfg.GlobInterval)
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-poll.C:
			if !now.Before(nextGlob) {
				s.expandLive(ctx, handle)
				nextGlob = now.Add(s.cfg.GlobInterval)
				s.mu.Lock()
				s.pruneLocked(now)
				s.mu.Unlock()
			}
			for _, lp := range s.live {
				if ctx.Err() != nil {
					return nil
				}
				s.poll(ctx, lp, handle)
			}
		}
	}
}

func (s *Source) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lp := range s.live {
		if lp.cur != nil {
			s.closeFile(lp.cur)
		}
	}
	if s.reading != nil {
		s.closeFile(s.reading)
		s.reading = nil
	}
}

// closeFile closes the handle; the file's position stays readable.
func (s *Source) closeFile(fl *file) {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
		s.setBuf(fl, nil)
		s.stats.openFiles.Add(-1)
	}
}

// glob expands globs into sorted, distinct paths of regular files.
func glob(globs []string) []string {
	var out []string
	for _, g := range globs {
		matches, _ := filepath.Glob(g) // the patterns were checked in New
		out = append(out, matches...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// candidate is a file found at start.
type candidate struct {
	path   string
	f      *os.File
	size   int64
	mtime  time.Time
	prefix []byte
	live   bool
}

// open opens a candidate and reads its first bytes: into a new slice, or,
// when check is set, into s.scratch (clone them to keep them).
func (s *Source) open(path string, live, check bool) (*candidate, error) {
	f, err := openShared(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	var prefix []byte
	if err == nil {
		buf := s.scratch[:]
		if !check {
			buf = make([]byte, FingerprintBytes)
		}
		prefix, err = readAt(f, buf[:min(info.Size(), FingerprintBytes)])
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	s.stats.openFiles.Add(1)
	return &candidate{path: path, f: f, size: info.Size(), mtime: info.ModTime(), prefix: prefix, live: live}, nil
}

// readAt reads the first len(b) bytes of f into b, without moving its
// offset, and returns those it got.
func readAt(f *os.File, b []byte) ([]byte, error) {
	m, err := f.ReadAt(b, 0)
	if err == io.EOF {
		err = nil
	}
	return b[:m], err
}

func (s *Source) openError(path string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		return // it went away between the glob and the open
	}
	s.stats.readErrors.Add(1)
	s.readErr.log(s.log.Errorf, "Opening %s failed: %v", path, err)
}

// rebuild reads the files found at start.
func (s *Source) rebuild(ctx context.Context, handle func(Row)) {
	start := time.Now()
	s.started = start
	before := s.Stats()

	livePaths := glob(s.cfg.Files)
	var rotPaths []string
	for _, p := range glob(append(slices.Clone(s.rotGlobs), s.cfg.ArchiveFiles...)) {
		if _, isLive := slices.BinarySearch(livePaths, p); !isLive {
			rotPaths = append(rotPaths, p)
		}
	}

	var live, rotated []*candidate
	var paths []*livePath // the live paths, with or without a file
	for _, p := range livePaths {
		c, err := s.open(p, true, false)
		if err != nil {
			s.openError(p, err)
			// Its rotated files of later are read when a file appears.
			paths = append(paths, &livePath{path: p, rotatedAt: start})
			continue
		}
		live = append(live, c)
	}
	for _, p := range rotPaths {
		c, err := s.open(p, false, false)
		if err != nil {
			s.openError(p, err)
			continue
		}
		rotated = append(rotated, c)
	}
	// The same file may be both in the live folder and in ArchivedLogs (or
	// be a copy of a live file): read one of them, the largest.
	seen := map[string]*candidate{}
	for _, c := range live {
		seen[string(c.prefix)] = c
	}
	rotated = slices.DeleteFunc(rotated, func(c *candidate) bool {
		if len(c.prefix) == 0 {
			s.closeCandidate(c) // nothing to read
			return true
		}
		other, dup := seen[string(c.prefix)]
		if !dup {
			seen[string(c.prefix)] = c
			return false
		}
		if other.live || other.size >= c.size {
			s.closeCandidate(c)
			return true
		}
		s.closeCandidate(other) // its f is nil now: dropped below
		seen[string(c.prefix)] = c
		return false
	})
	rotated = slices.DeleteFunc(rotated, func(c *candidate) bool { return c.f == nil })

	// Rotated files: those a saved position names, and those modified within
	// archive_max_age; oldest first, so that a session's stop comes after
	// its start.
	slices.SortStableFunc(rotated, func(a, b *candidate) int { return a.mtime.Compare(b.mtime) })
	cutoff := start.Add(-s.cfg.ArchiveMaxAge)
	var files, archives int
	for _, c := range rotated {
		if ctx.Err() != nil {
			s.closeCandidate(c)
			continue
		}
		if s.readRotated(ctx, c, start, true, s.cfg.ArchiveMaxAge > 0 && !c.mtime.Before(cutoff), handle) {
			archives++
		}
	}

	// Live files, from the start or where a saved position says.
	s.mu.Lock()
	for _, c := range live {
		offset, _ := s.matchLocked(c.prefix)
		if offset > c.size {
			s.log.Warnf("%s is shorter (%d bytes) than the saved position (%d): reading it from the start", c.path, c.size, offset)
			offset = 0
		}
		paths = append(paths, &livePath{path: c.path, cur: s.newFile(c, offset, c.size)})
		files++
	}
	slices.SortFunc(paths, func(a, b *livePath) int { return strings.Compare(a.path, b.path) })
	s.live = paths
	s.mu.Unlock()
	for _, lp := range s.live {
		if ctx.Err() != nil {
			return
		}
		if lp.cur != nil {
			s.read(ctx, lp.cur, false, handle)
		}
	}
	after := s.Stats()
	elapsed := time.Since(start)
	s.log.Infof("Read %d rows (%d bytes) from %d live and %d rotated or archived log files in %s; following %d files",
		after.Rows-before.Rows, after.Bytes-before.Bytes, files, archives, elapsed.Round(time.Millisecond), len(s.live))
}

// readRotated reads a rotated or archived file to its end, from where a
// saved position or a file read before says, and keeps its position; a file
// that no position names is read from its start if unknown says so, else
// left alone. Its rows are Row.Rebuilding if rebuilding. It tells whether
// it read the file.
func (s *Source) readRotated(ctx context.Context, c *candidate, now time.Time, rebuilding, unknown bool, handle func(Row)) bool {
	// A matched position is taken out and the file put in its place under
	// one lock, so that Positions never misses it.
	s.mu.Lock()
	offset, known := s.matchLocked(c.prefix)
	switch {
	case known && offset >= c.size:
		// Read through before.
		s.closeCandidate(c)
		s.done = append(s.done, Position{Path: c.path, Fingerprint: fingerprint(c.prefix), FingerprintBytes: int64(len(c.prefix)), Offset: offset, Seen: now})
		s.mu.Unlock()
		return false
	case !known && !unknown:
		s.mu.Unlock()
		s.closeCandidate(c)
		return false
	}
	var rebuildEnd int64
	if rebuilding {
		rebuildEnd = c.size
	}
	fl := s.newFile(c, offset, rebuildEnd)
	s.reading = fl
	s.mu.Unlock()
	s.read(ctx, fl, true, handle)
	s.mu.Lock()
	s.reading = nil
	s.retireLocked(fl, now) // also when stopped half way: it keeps the offset
	s.mu.Unlock()
	return true
}

func (s *Source) closeCandidate(c *candidate) {
	if c.f != nil {
		c.f.Close()
		c.f = nil
		s.stats.openFiles.Add(-1)
	}
}

// matchLocked looks prefix (a file's first bytes) up among the saved
// positions and the files read to their end. It returns the offset to go
// on from, and whether a position matched; a matched position is taken out:
// the caller puts the file in its place before it unlocks s.mu.
func (s *Source) matchLocked(prefix []byte) (int64, bool) {
	sums := map[int64]string{}
	sum := func(n int64) string {
		if _, ok := sums[n]; !ok {
			sums[n] = fingerprint(prefix[:n])
		}
		return sums[n]
	}
	best, bestIdx, bestDone := Position{}, -1, false
	consider := func(list []Position, done bool) {
		for i, p := range list {
			if p.FingerprintBytes > int64(len(prefix)) || sum(p.FingerprintBytes) != p.Fingerprint {
				continue
			}
			if bestIdx < 0 || p.FingerprintBytes > best.FingerprintBytes ||
				p.FingerprintBytes == best.FingerprintBytes && p.Offset > best.Offset {
				best, bestIdx, bestDone = p, i, done
			}
		}
	}
	consider(s.pending, false)
	consider(s.done, true)
	if bestIdx < 0 {
		return 0, false
	}
	if bestDone {
		s.done = slices.Delete(s.done, bestIdx, bestIdx+1)
	} else {
		s.pending = slices.Delete(s.pending, bestIdx, bestIdx+1)
	}
	return best.Offset, true
}

func fingerprint(prefix []byte) string {
	sum := sha256.Sum256(prefix)
	return hex.EncodeToString(sum[:])
}

// expandLive adds the paths that the live globs match now.
func (s *Source) expandLive(ctx context.Context, handle func(Row)) {
	paths := glob(s.cfg.Files)
	for _, p := range paths {
		if _, found := slices.BinarySearchFunc(s.live, p, func(lp *livePath, p string) int { return strings.Compare(lp.path, p) }); found {
			continue
		}
		// A server that appeared after the start: its files rotated since
		// are read before the live one (their rows are new).
		lp := &livePath{path: p, rotatedAt: s.started}
		s.mu.Lock()
		i, _ := slices.BinarySearchFunc(s.live, p, func(lp *livePath, p string) int { return strings.Compare(lp.path, p) })
		s.live = slices.Insert(s.live, i, lp)
		s.mu.Unlock()
		s.log.Debugf("Found %s", p)
		s.checkPath(ctx, lp, handle)
	}
	// Forget paths that are gone and that no file is followed at.
	s.mu.Lock()
	s.live = slices.DeleteFunc(s.live, func(lp *livePath) bool {
		_, found := slices.BinarySearch(paths, lp.path)
		return lp.cur == nil && !found
	})
	s.mu.Unlock()
}

// poll reads what the live file gained; when it gained nothing, it checks
// whether the path still names it.
func (s *Source) poll(ctx context.Context, lp *livePath, handle func(Row)) {
	if lp.cur != nil && !lp.cur.bad {
		if n := s.read(ctx, lp.cur, false, handle); n > 0 {
			return
		}
	}
	s.checkPath(ctx, lp, handle)
}

// checkPath compares the file at lp.path with the one followed there.
func (s *Source) checkPath(ctx context.Context, lp *livePath, handle func(Row)) {
	c, err := s.open(lp.path, true, true)
	if err != nil {
		if lp.cur != nil {
			// Renamed away or deleted: what the handle holds is all there
			// will be.
			s.retire(ctx, lp, handle)
			s.catchUp(ctx, lp, handle)
		}
		s.openError(lp.path, err)
		return
	}
	if cur := lp.cur; cur != nil {
		info, err := cur.f.Stat()
		if err != nil {
			s.closeCandidate(c)
			s.stats.readErrors.Add(1)
			s.readErr.log(s.log.Errorf, "Reading %s failed: %v", cur.path, err)
			return
		}
		if info.Size() < cur.readPos {
			s.closeCandidate(c)
			s.restart(ctx, cur, handle, fmt.Sprintf("shrank from %d to %d bytes", cur.readPos, info.Size()))
			return
		}
		// The path names our file if it starts with the same bytes and is
		// not longer (c was looked at first: ours can only have grown since).
		n := len(cur.prefix)
		if len(c.prefix) >= n && string(c.prefix[:n]) == string(cur.prefix) && c.size <= info.Size() {
			s.closeCandidate(c)
			return
		}
		c.prefix = slices.Clone(c.prefix) // reading reuses s.scratch
		if ours, err := readAt(cur.f, make([]byte, n)); err == nil && string(ours) != string(cur.prefix) {
			s.closeCandidate(c)
			s.restart(ctx, cur, handle, "was rewritten (its first bytes changed)")
			return
		}
		s.retire(ctx, lp, handle)
	} else {
		c.prefix = slices.Clone(c.prefix)
	}
	// A new file at the path: a rotation's new file, or a file that
	// appeared. Files rotated away before it come first.
	if s.catchUp(ctx, lp, handle) {
		// The new file may have been rotated and read meanwhile: look at
		// its first bytes again (it was not read yet), to know it.
		if err := c.refresh(); err != nil {
			s.closeCandidate(c)
			s.stats.readErrors.Add(1)
			s.readErr.log(s.log.Errorf, "Reading %s failed: %v", c.path, err)
			return
		}
	}
	if ctx.Err() != nil {
		s.closeCandidate(c)
		return
	}
	s.mu.Lock()
	offset, _ := s.matchLocked(c.prefix)
	if offset > c.size {
		offset = 0
	}
	fl := s.newFile(c, offset, 0)
	lp.cur, lp.rotatedAt = fl, time.Time{}
	s.mu.Unlock()
	s.read(ctx, fl, false, handle)
}

// refresh reads the candidate's size and first bytes again.
func (c *candidate) refresh() error {
	info, err := c.f.Stat()
	if err != nil {
		return err
	}
	prefix, err := readAt(c.f, make([]byte, min(info.Size(), FingerprintBytes)))
	if err != nil {
		return err
	}
	c.size, c.mtime, c.prefix = info.Size(), info.ModTime(), prefix
	return nil
}

// catchUp reads the rotated files of a live path that were modified since
// the file followed there was rotated away and that no Position names
// (files that lived under the live name for less than a poll), oldest
// first. It tells whether it looked.
func (s *Source) catchUp(ctx context.Context, lp *livePath, handle func(Row)) bool {
	if lp.rotatedAt.IsZero() || ctx.Err() != nil {
		return false
	}
	dir, base := filepath.Split(lp.path)
	if len(base) < 4 || !strings.EqualFold(base[len(base)-4:], ".txt") {
		return false // no rotated names known
	}
	stem := base[:len(base)-4] + "_"
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		s.stats.readErrors.Add(1)
		s.readErr.log(s.log.Errorf, "Listing %s failed: %v", dir, err)
		return false
	}
	var found []*candidate
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || len(name) < len(stem)+4 || !strings.HasPrefix(name, stem) || !strings.EqualFold(name[len(name)-4:], ".log") {
			continue
		}
		if info, err := e.Info(); err != nil || info.ModTime().Before(lp.rotatedAt) {
			continue // gone, or older: read at start, or left out there on purpose
		}
		path := filepath.Join(dir, name)
		c, err := s.open(path, false, false)
		if err != nil {
			s.openError(path, err)
			continue
		}
		if len(c.prefix) == 0 {
			s.closeCandidate(c)
			continue
		}
		found = append(found, c)
	}
	// Equal times (coarse clocks) keep the order of the names, which carry
	// the time of the rotation.
	slices.SortStableFunc(found, func(a, b *candidate) int { return a.mtime.Compare(b.mtime) })
	now := time.Now()
	for _, c := range found {
		if ctx.Err() != nil {
			s.closeCandidate(c)
			continue
		}
		// The file just rotated away, and those read before, match a
		// position: only the rest are read.
		if s.readRotated(ctx, c, now, false, true, handle) {
			s.stats.rotations.Add(1)
			s.log.Debugf("%s lived under %s for less than a poll: read it (%d bytes)", c.path, lp.path, c.size)
		}
	}
	return true
}

// retire reads the file followed at lp to its end and closes it.
func (s *Source) retire(ctx context.Context, lp *livePath, handle func(Row)) {
	cur := lp.cur
	if !cur.bad {
		s.read(ctx, cur, true, handle)
	}
	if ctx.Err() != nil {
		return // keep it: Positions has its offset
	}
	s.stats.rotations.Add(1)
	s.log.Debugf("%s was rotated or deleted; read it to its end (%d bytes)", cur.path, cur.readPos)
	var rotatedAt time.Time
	if info, err := cur.f.Stat(); err == nil && !cur.bad {
		rotatedAt = info.ModTime()
	}
	s.mu.Lock()
	lp.cur, lp.rotatedAt = nil, rotatedAt
	s.retireLocked(cur, time.Now())
	s.mu.Unlock()
}

// retireLocked closes a file read to its end and keeps its position.
func (s *Source) retireLocked(fl *file, now time.Time) {
	if p, ok := fl.position(now); ok && !fl.bad {
		s.done = append(s.done, p)
	}
	s.closeFile(fl)
}

// restart reads a file again from its start.
func (s *Source) restart(ctx context.Context, fl *file, handle func(Row), why string) {
	if s.rewind(fl, why) {
		s.read(ctx, fl, false, handle)
	}
}

// rewind moves a file that shrank or was rewritten back to its start, to be
// read again; false if it could not.
func (s *Source) rewind(fl *file, why string) bool {
	s.stats.truncations.Add(1)
	s.log.Warnf("%s %s: reading it again from the start", fl.path, why)
	if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
		s.stats.readErrors.Add(1)
		s.readErr.log(s.log.Errorf, "Reading %s failed: %v", fl.path, err)
		return false
	}
	s.mu.Lock()
	fl.reset()
	s.mu.Unlock()
	return true
}

// limitedLog lets a kind of log line out once a minute.
type limitedLog struct{ throttle.Throttle }

func (l *limitedLog) log(logf func(string, ...any), format string, args ...any) {
	ok, n := l.Allow(time.Now(), time.Minute)
	if !ok {
		return
	}
	if n > 0 {
		format += fmt.Sprintf(" (and %d more like it in the last minute)", n)
	}
	logf(format, args...)
}

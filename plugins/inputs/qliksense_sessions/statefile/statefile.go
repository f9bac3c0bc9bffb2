// Package statefile keeps the open sessions on disk across restarts: a
// versioned JSON file, replaced atomically so that a crash at any moment
// leaves either the old or the new file.
//
// The format is versioned. Optional content that an older build may ignore
// and still restore the right counts (start_seen and known, the sessions'
// proxy ids, added to version 1) keeps the version: an older build then
// restores the counts without it. A change that an older build would
// misread or miscount bumps Version; Load goes on reading every older
// version, each pinned by a file testdata/v<N>.json and its test, and
// TestSaveWritesVersion pins what Save writes. A file this build cannot use
// is never overwritten unseen: the caller keeps it aside with SetAside.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/periods"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// Version is the file format this build writes and reads.
const Version = 1

// Limits that Load holds every record to. A record outside them is skipped
// and counted; the rest of the file is used. LoadFor also holds the records
// to the state's own limits (see LoadFor).
const (
	// MaxSessions is the most sessions one record (one user on one server)
	// may hold. A user has one session per browser and virtual proxy; even a
	// script that opens a new session on every call and never logs out stays
	// far below it within the 30-minute inactivity timeout. A larger count is
	// a corrupt or hand-made file.
	MaxSessions = 100_000
	// MaxTotalSessions bounds the sum over all records, so that the state's
	// counters (int, 32 bits on 386 and arm builds) cannot overflow.
	MaxTotalSessions = math.MaxInt32
	// MaxAhead is how far first_seen or last_seen may lie after the clock at
	// Load. Times come from this machine's clock, so a later time means the
	// clock was wrong when the file was written (or is now); such a session
	// would outlive session_max_age by that much.
	MaxAhead = time.Hour
)

// File is the state file's content.
type File struct {
	Version  int            `json:"version"`
	SavedAt  time.Time      `json:"saved_at"`
	Sessions []state.Record `json:"sessions"`
	// LogFiles are how far the log file source read each file, taken with
	// Sessions, so that a restart neither loses nor repeats a row.
	LogFiles []Position `json:"log_files,omitempty"`
	// FileServers are the servers whose sessions come from the log files.
	FileServers []string `json:"file_servers,omitempty"`
	// Periods are the usage periods (periods.go); nil in files without.
	Periods *periods.Saved `json:"periods,omitempty"`
	// PeriodsUnreadable says why Load could not read the periods, which
	// it left out (the sessions are read still); "" if it could.
	PeriodsUnreadable string `json:"-"`
	// Skipped counts the records Load left out, by reason.
	Skipped Skipped `json:"-"`
	// KnownDropped counts the known sessions (ids) Load left out of records
	// it kept: an empty id, one with a control character or longer than
	// state.MaxSessionIDLength, connections not from 0 to MaxSessions, or a
	// start more than MaxAhead after the clock. Their sessions still count,
	// without an id.
	KnownDropped int `json:"-"`
}

// Position is how far one log file was read: the log file source's own
// position, kept here in the file's own terms so that this package needs
// none of the source's.
type Position struct {
	// Path is where the file was last read; files are matched by
	// fingerprint.
	Path string `json:"path"`
	// Fingerprint is the hex SHA-256 of the file's first FingerprintBytes
	// bytes.
	Fingerprint      string `json:"fingerprint"`
	FingerprintBytes int64  `json:"fingerprint_bytes"`
	// Offset is the position after the last row applied.
	Offset int64 `json:"offset"`
	// Seen is when the file was last read.
	Seen time.Time `json:"seen"`
}

// Reasons why Load skips a record.
const (
	ReasonInvalid   = "not a record of server, directory, user_id, sessions, first_seen and last_seen"
	ReasonEmptyName = "an empty server, directory or user_id"
	ReasonControl   = "a control character in server, directory or user_id"
	ReasonSessions  = "sessions not a whole number from 1 to 100000"
	ReasonFuture    = "first_seen or last_seen more than 1h after the clock"
	ReasonDuplicate = "the same server and user as an earlier record"
	// ReasonMaxUserSessions: the record's sessions, or the user's
	// sessions with those of earlier records of the user on other servers,
	// are more than the state's max_user_sessions (LoadFor).
	ReasonMaxUserSessions = "more sessions than max_user_sessions, alone or with the user's records on other servers"
	ReasonTotal           = "sessions that would take the total past 2147483647"
)

// reasons is the order in which Skipped lists reasons.
var reasons = []string{ReasonInvalid, ReasonEmptyName, ReasonControl, ReasonSessions, ReasonFuture, ReasonDuplicate, ReasonMaxUserSessions, ReasonTotal}

// Skipped counts skipped records by reason.
type Skipped map[string]int

// Total is the number of skipped records.
func (s Skipped) Total() int {
	n := 0
	for _, c := range s {
		n += c
	}
	return n
}

// String says how many records were skipped and why, e.g. "3 records
// skipped: 2 with sessions not a whole number from 1 to 100000, 1 with the
// same server and user as an earlier record".
func (s Skipped) String() string {
	var parts []string
	for _, r := range reasons {
		if n := s[r]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" with "+r)
		}
	}
	total := s.Total()
	noun := "records"
	if total == 1 {
		noun = "record"
	}
	return fmt.Sprintf("%d %s skipped: %s", total, noun, strings.Join(parts, ", "))
}

// ErrVersion marks a file written in another format version.
var ErrVersion = errors.New("unsupported state file version")

// Save writes the records to path atomically: a temporary file in the same
// folder, fsync, rename over path, fsync of the folder.
func Save(path string, records []state.Record, savedAt time.Time) error {
	return SaveFile(path, File{SavedAt: savedAt, Sessions: records})
}

// SaveFile writes f, in this build's version, as Save does.
func SaveFile(path string, f File) error {
	if f.Sessions == nil {
		f.Sessions = make([]state.Record, 0) // [], not null
	}
	f.Version, f.SavedAt = Version, f.SavedAt.UTC()
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding the state failed: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("creating a temporary file next to %q failed: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %q failed: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %q failed: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %q failed: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %q failed: %w", path, err)
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		d.Sync() //nolint:errcheck // not every OS or file system can sync a directory
		d.Close()
	}
	return nil
}

// tempPrefix starts the names of Save's temporary files for path.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// RemoveTemps removes the temporary files that saves of path cut short (a
// SIGKILL, a power cut) left next to it: the regular files named as Save
// names them, nothing else. Call it before the first Save. It returns the
// names it removed; err is the first failure, the others are tried still.
func RemoveTemps(path string) (removed []string, err error) {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %q for temporary files of %q failed: %w", dir, path, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) || len(e.Name()) == len(prefix) {
			continue
		}
		if rmErr := os.Remove(filepath.Join(dir, e.Name())); rmErr != nil {
			if err == nil {
				err = fmt.Errorf("removing the stale temporary file %q failed: %w", filepath.Join(dir, e.Name()), rmErr)
			}
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, err
}

// Load reads a state file and checks every record against the limits above:
// records outside them are left out and counted in File.Skipped. It is
// LoadFor a state without limits of its own.
//
// When there is no file, the error wraps fs.ErrNotExist. Any other error
// means that a file is there but cannot be used (unreadable, corrupt,
// truncated, another format or version): keep it aside with SetAside before
// the next Save replaces it.
func Load(path string) (*File, error) {
	return loadAt(path, time.Now())
}

// LoadFor is Load for a state of the config cfg: it also leaves out what
// that state would not hold, so that it restores whatever LoadFor returns,
// as a state of the same config saved it: a user's sessions over all
// records up to cfg.MaxUserSessions (the records that would take them
// further are skipped, ReasonMaxUserSessions), and session ids up to
// state.MaxSessionIDLength bytes (for any config).
func LoadFor(path string, cfg state.Config) (*File, error) {
	return loadForAt(path, time.Now(), cfg)
}

// loadAt is Load at the time now, which bounds the time stamps it accepts.
func loadAt(path string, now time.Time) (*File, error) {
	return loadForAt(path, now, state.Config{})
}

// loadForAt is LoadFor at the time now.
func loadForAt(path string, now time.Time, cfg state.Config) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no state file at %q: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading state file %q failed: %w", path, err)
	}
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("state file %q is corrupt (%w)", path, err)
	}
	if probe.Version == nil {
		return nil, fmt.Errorf("state file %q has no version: it is not a qliksense_sessions state file", path)
	}
	if *probe.Version == 1 {
		return loadV1(path, data, now, cfg)
	}
	return nil, fmt.Errorf("state file %q: %w %d (this build reads version %d; the release that wrote it can read it)",
		path, ErrVersion, *probe.Version, Version)
}

// recordV1 is a record of a version 1 file as written, before it is checked.
type recordV1 struct {
	Server    string                 `json:"server"`
	Directory string                 `json:"directory"`
	UserID    string                 `json:"user_id"`
	Sessions  json.Number            `json:"sessions"`
	FirstSeen time.Time              `json:"first_seen"`
	LastSeen  time.Time              `json:"last_seen"`
	StartSeen bool                   `json:"start_seen"`
	Known     []state.KnownSession   `json:"known"`
	Apps      []state.AppConnections `json:"apps"`
}

// fileV1 is a version 1 state file as it decodes, its records of type R.
type fileV1[R any] struct {
	Version     int             `json:"version"`
	SavedAt     time.Time       `json:"saved_at"`
	Sessions    []R             `json:"sessions"`
	LogFiles    []Position      `json:"log_files"`
	FileServers []string        `json:"file_servers"`
	Periods     json.RawMessage `json:"periods"`
}

func loadV1(path string, data []byte, now time.Time, cfg state.Config) (*File, error) {
	var file fileV1[recordV1]
	if err := json.Unmarshal(data, &file); err != nil {
		// A record that does not decode (a string for a number, a malformed
		// time) costs that record, not the file: decode them one by one.
		var raw fileV1[json.RawMessage]
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("state file %q is corrupt (%w)", path, err)
		}
		file = fileV1[recordV1]{Version: raw.Version, SavedAt: raw.SavedAt, Sessions: make([]recordV1, len(raw.Sessions)),
			LogFiles: raw.LogFiles, FileServers: raw.FileServers, Periods: raw.Periods}
		for i, msg := range raw.Sessions {
			if json.Unmarshal(msg, &file.Sessions[i]) != nil {
				file.Sessions[i] = recordV1{Sessions: invalid}
			}
		}
	}
	f := &File{Version: file.Version, SavedAt: file.SavedAt, Sessions: make([]state.Record, 0, len(file.Sessions)), Skipped: make(Skipped),
		LogFiles: file.LogFiles}
	f.readPeriods(file.Periods)
	for _, name := range file.FileServers {
		if event.ValidHostName(name) {
			f.FileServers = append(f.FileServers, name)
		}
	}
	seen := make(map[string]struct{}, len(file.Sessions))
	var userSessions map[string]int64 // per user over all servers, with max_user_sessions
	if cfg.MaxUserSessions > 0 {
		userSessions = make(map[string]int64, len(file.Sessions))
	}
	latest := now.Add(MaxAhead)
	var total int64
	var key []byte
	for _, r := range file.Sessions {
		if r.Sessions == invalid {
			f.Skipped[ReasonInvalid]++
			continue
		}
		if r.Server == "" || r.Directory == "" || r.UserID == "" {
			f.Skipped[ReasonEmptyName]++
			continue
		}
		if event.HasControl(r.Server) || event.HasControl(r.Directory) || event.HasControl(r.UserID) {
			f.Skipped[ReasonControl]++
			continue
		}
		sessions, err := strconv.ParseInt(r.Sessions.String(), 10, 64)
		if err != nil || sessions < 1 || sessions > MaxSessions {
			f.Skipped[ReasonSessions]++
			continue
		}
		if r.FirstSeen.After(latest) || r.LastSeen.After(latest) {
			f.Skipped[ReasonFuture]++
			continue
		}
		// The key the state merges records by: server, and DIRECTORY\userid,
		// both ignoring case.
		key = appendLower(key[:0], r.Server)
		key = append(key, 0)
		userAt := len(key)
		key = appendLower(key, r.Directory)
		key = append(key, '\\')
		key = appendLower(key, r.UserID)
		if _, dup := seen[string(key)]; dup {
			f.Skipped[ReasonDuplicate]++
			continue
		}
		if userSessions != nil && userSessions[string(key[userAt:])]+sessions > int64(cfg.MaxUserSessions) {
			f.Skipped[ReasonMaxUserSessions]++
			continue
		}
		if total+sessions > MaxTotalSessions {
			f.Skipped[ReasonTotal]++
			continue
		}
		seen[string(key)] = struct{}{}
		if userSessions != nil {
			userSessions[string(key[userAt:])] += sessions
		}
		total += sessions
		f.Sessions = append(f.Sessions, state.Record{
			Server: r.Server, Directory: r.Directory, UserID: r.UserID, Sessions: int(sessions),
			FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, StartSeen: r.StartSeen,
			Known: f.checkKnown(r.Known, latest),
			Apps:  f.checkApps(r.Apps),
		})
	}
	return f, nil
}

// checkKnown keeps the known sessions of a record that are in range and
// counts the others in KnownDropped. The state drops those beyond the
// record's count and ids known twice.
func (f *File) checkKnown(known []state.KnownSession, latest time.Time) []state.KnownSession {
	kept := known[:0]
	for _, k := range known {
		if k.ID == "" || len(k.ID) > state.MaxSessionIDLength || event.HasControl(k.ID) || k.Connections < 0 || k.Connections > MaxSessions ||
			k.Started.After(latest) {
			f.KnownDropped++
			continue
		}
		k.Apps = f.checkApps(k.Apps)
		kept = append(kept, k)
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}

// checkApps keeps the connections to apps that name a GUID and count 1 to
// MaxSessions, and counts the others in KnownDropped.
func (f *File) checkApps(apps []state.AppConnections) []state.AppConnections {
	kept := apps[:0]
	for _, a := range apps {
		if !event.IsGUID(a.App) || a.Connections < 1 || a.Connections > MaxSessions {
			f.KnownDropped++
			continue
		}
		kept = append(kept, a)
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}

// invalid marks a record that did not decode.
const invalid = json.Number("invalid")

// appendLower appends s in lower case, rune by rune as the state folds
// names.
func appendLower(dst []byte, s string) []byte {
	for _, r := range s {
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

// SetAside renames a state file that cannot be used to
// <path>.unreadable-<UTC time>, e.g. state.json.unreadable-20261124T075500Z,
// so that the next Save does not replace it, and returns the new name. It
// never replaces an earlier copy.
func SetAside(path string, now time.Time) (string, error) { return KeepAside(path, now, "unreadable") }

// KeepAside is SetAside with another word for why: <path>.<why>-<UTC time>,
// e.g. state.json.over-limits-20261124T075500Z for a file whose sessions
// the limits did not all let in.
func KeepAside(path string, now time.Time, why string) (string, error) {
	base := path + "." + why + "-" + now.UTC().Format("20060102T150405Z")
	target := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i > 100 {
			return "", fmt.Errorf("keeping %q aside failed: %q and 99 more names like it exist", path, base)
		}
		target = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(path, target); err != nil {
		return "", fmt.Errorf("keeping %q aside as %q failed: %w", path, target, err)
	}
	return target, nil
}

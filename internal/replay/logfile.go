package replay

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The proxy's audit activity log files, as a Qlik Sense proxy node writes
// them in C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\ (see the package
// parsers/auditlog for the format and its sources): one live file per host,
// <HOST>_AuditActivity_Proxy.txt, UTF-8 with a byte order mark, CR LF line
// ends, tab-separated, a header row first. At a size limit (8 MB), after
// some hours or at a service restart the live file is renamed to
// <HOST>_AuditActivity_Proxy_<YYYY-MM-DDTHH.mm.ss>Z.log (the UTC time it
// was closed) and a new live file starts with a new header.

// DefaultRotateBytes is the size at which Qlik Sense rotates a log file: 8 MB.
const DefaultRotateBytes = 8 << 20

// TimestampLayout is how the log files write times: 20260225T081512.123+0100.
const TimestampLayout = "20060102T150405.000-0700"

// rotatedStampLayout is the time in a rotated file's name (UTC, then "Z").
const rotatedStampLayout = "2006-01-02T15.04.05"

// DefaultProductVersion is what the files write in ProductVersion.
const DefaultProductVersion = "14.187.4"

// LogColumns are the columns of the proxy audit activity log, in Qlik's
// order (a reconstruction: the parser maps them by name).
var LogColumns = []string{"Sequence#", "ProductVersion", "Timestamp", "Hostname", "Id", "Description",
	"ProxySessionId", "ProxyPackageId", "RequestSequenceId", "UserDirectory", "UserId", "ObjectId", "ObjectName",
	"Service", "Origin", "Context", "Command", "Result", "Message", "Id2"}

const bom = "\ufeff"

// LogFileName is the live log file of a proxy host.
func LogFileName(host string) string {
	return host + "_AuditActivity_Proxy.txt"
}

// RotatedLogFileName is the name a host's live file takes when it is closed
// at closed.
func RotatedLogFileName(host string, closed time.Time) string {
	return host + "_AuditActivity_Proxy_" + closed.UTC().Format(rotatedStampLayout) + "Z.log"
}

// SimClock is the simulated clock of the log files: event i happens at
// Start + i/Rate (Rate events per second; 0 or less: all at Start). It is
// the schedule of Pacer and ExpectFromPayloads too.
type SimClock struct {
	Start time.Time
	Rate  float64
}

// At is the time of event i, in Start's location.
func (c SimClock) At(i int) time.Time {
	if c.Rate <= 0 {
		return c.Start
	}
	return c.Start.Add(time.Duration(float64(i) / c.Rate * float64(time.Second)))
}

// LogConfig shapes the log files a LogWriter writes.
type LogConfig struct {
	// Dir is the folder of the files, Qlik's Log\Proxy\Audit. It must exist.
	Dir string
	// RotateBytes: a row that would take the live file past this size goes
	// to a new file (a file holds at least one row); 0 means
	// DefaultRotateBytes, a negative size never rotates.
	RotateBytes int64
	// RotateAge rotates a live file whose first row is this much older (on
	// the simulated clock) than the row to write; 0 never (Qlik: 12 h).
	RotateAge time.Duration
	// Noise is the chance (0 to 1) that a row the plugin must ignore goes
	// before an event's row: another command, a tracked command that
	// failed (Result not 0), an API call of INTERNAL\sa_api.
	Noise float64
	// Seed makes the ids and the noise; the same seed writes the same files.
	Seed uint64
	// FlushEachRow writes every row through to the file at once, so that a
	// tailer sees it; otherwise rows are buffered until a rotation or Close.
	FlushEachRow bool
	// ProductVersion is written in every row; "" means DefaultProductVersion.
	ProductVersion string
}

// LogStats counts what a LogWriter wrote.
type LogStats struct {
	Events      int   // rows of the simulation's events
	IgnoredRows int   // noise rows, which the plugin must ignore
	Rotations   int   // live files renamed (at the size limit, the age limit, on request or at the start)
	Files       int   // files started (live files; each rotation starts one)
	Bytes       int64 // bytes written, headers included
}

// LogWriter writes the simulation's events as proxy audit activity log
// files, one live file per server. It is not safe for concurrent use.
type LogWriter struct {
	cfg   LogConfig
	rng   *rand.Rand
	hosts map[string]*hostLog
	row   []byte
	stats LogStats
}

// hostLog is the live file of one host.
type hostLog struct {
	host      string
	file      *os.File
	w         *bufio.Writer
	size      int64
	rows      int       // data rows in the live file
	first     time.Time // of the live file's first row
	seq       int       // Sequence#, across rotations
	lastStamp time.Time // of the last rotated name, to keep the names apart
}

// NewLogWriter checks cfg and makes a writer. Files are opened at a host's
// first row; a live file left in Dir by an earlier run is rotated then, as
// a service restart does.
func NewLogWriter(cfg LogConfig) (*LogWriter, error) {
	if cfg.Noise < 0 || cfg.Noise > 1 {
		return nil, fmt.Errorf("noise must be 0 to 1, not %g", cfg.Noise)
	}
	if cfg.RotateAge < 0 {
		return nil, fmt.Errorf("rotate age must not be negative, not %s", cfg.RotateAge)
	}
	if info, err := os.Stat(cfg.Dir); err != nil {
		return nil, fmt.Errorf("log folder: %w", err)
	} else if !info.IsDir() {
		return nil, fmt.Errorf("log folder %s is not a folder", cfg.Dir)
	}
	if cfg.RotateBytes == 0 {
		cfg.RotateBytes = DefaultRotateBytes
	}
	if cfg.ProductVersion == "" {
		cfg.ProductVersion = DefaultProductVersion
	}
	rng := rand.New(rand.NewPCG(cfg.Seed^0x5eed10f11e5, cfg.Seed)) //nolint:gosec // G404: simulated files: the same seed makes the same ids and noise
	return &LogWriter{cfg: cfg, rng: rng, hosts: make(map[string]*hostLog)}, nil
}

// Write appends ev's row to its server's live file, stamped at, rotating
// first when a limit is reached; with noise, a row to ignore may go first.
func (w *LogWriter) Write(ev *Event, at time.Time) error {
	h, err := w.host(ev.Server, at)
	if err != nil {
		return err
	}
	if w.cfg.Noise > 0 && w.rng.Float64() < w.cfg.Noise {
		if err := w.writeRow(h, w.noiseRow(ev), at); err != nil {
			return err
		}
		w.stats.IgnoredRows++
	}
	r := logRow{command: ev.Command, result: 0, resultText: "Success", sessionID: ev.SessionID,
		directory: ev.Directory, userID: ev.UserID, context: ev.Context, message: ev.Message}
	if err := w.writeRow(h, r, at); err != nil {
		return err
	}
	w.stats.Events++
	return nil
}

// Rotate closes host's live file now, on request, renaming it as Qlik
// does, and starts a new one with its header. A host without a live file
// is left alone.
func (w *LogWriter) Rotate(host string, at time.Time) error {
	h := w.hosts[host]
	if h == nil || h.file == nil {
		return nil
	}
	if err := w.closeAndRename(h, at); err != nil {
		return err
	}
	return w.open(h)
}

// RotateAll rotates every host's live file.
func (w *LogWriter) RotateAll(at time.Time) error {
	hosts := w.Hosts()
	errs := make([]error, 0, len(hosts))
	for _, host := range hosts {
		errs = append(errs, w.Rotate(host, at))
	}
	return errors.Join(errs...)
}

// Hosts lists the hosts written to, sorted.
func (w *LogWriter) Hosts() []string {
	hosts := make([]string, 0, len(w.hosts))
	for host := range w.hosts {
		hosts = append(hosts, host)
	}
	sortFolded(hosts)
	return hosts
}

// Flush writes the buffered rows through to the files.
func (w *LogWriter) Flush() error {
	var errs []error
	for _, h := range w.hosts {
		if h.w != nil {
			errs = append(errs, h.w.Flush())
		}
	}
	return errors.Join(errs...)
}

// Close flushes and closes the live files (they stay live: no rotation).
func (w *LogWriter) Close() error {
	errs := make([]error, 0, len(w.hosts))
	for _, h := range w.hosts {
		errs = append(errs, h.close())
	}
	return errors.Join(errs...)
}

// Stats counts what was written so far.
func (w *LogWriter) Stats() LogStats { return w.stats }

// host returns the host's log, opening its live file at its first row.
func (w *LogWriter) host(name string, at time.Time) (*hostLog, error) {
	if h := w.hosts[name]; h != nil {
		return h, nil
	}
	if !validHostName(name) {
		return nil, fmt.Errorf("server %q cannot name a log file: want letters, digits, '-', '_' and '.'", name)
	}
	h := &hostLog{host: name}
	// A live file of an earlier run: the service restarted.
	live := filepath.Join(w.cfg.Dir, LogFileName(name))
	if _, err := os.Stat(live); err == nil {
		if err := w.rename(h, at); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := w.open(h); err != nil {
		return nil, err
	}
	w.hosts[name] = h
	return h, nil
}

// open starts a live file with the byte order mark and the header.
func (w *LogWriter) open(h *hostLog) error {
	// 0644: the plugin reading them may run as another user.
	f, err := os.OpenFile(filepath.Join(w.cfg.Dir, LogFileName(h.host)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644) //nolint:gosec // G302: see above
	if err != nil {
		return err
	}
	h.file, h.w, h.size, h.rows = f, bufio.NewWriterSize(f, 64<<10), 0, 0
	header := bom + strings.Join(LogColumns, "\t") + "\r\n"
	n, err := h.w.WriteString(header)
	h.size += int64(n)
	w.stats.Bytes += int64(n)
	w.stats.Files++
	if err == nil && w.cfg.FlushEachRow {
		err = h.w.Flush()
	}
	return err
}

// closeAndRename closes the live file and renames it.
func (w *LogWriter) closeAndRename(h *hostLog, at time.Time) error {
	if err := h.close(); err != nil {
		return err
	}
	return w.rename(h, at)
}

// rename moves the live file to its rotated name: the UTC time at, or a
// second after the last rotated name's if that is no later, so that names
// never collide and sort in the order the files were written.
func (w *LogWriter) rename(h *hostLog, at time.Time) error {
	stamp := at.UTC().Truncate(time.Second)
	if !stamp.After(h.lastStamp) && !h.lastStamp.IsZero() {
		stamp = h.lastStamp.Add(time.Second)
	}
	for {
		target := filepath.Join(w.cfg.Dir, RotatedLogFileName(h.host, stamp))
		if _, err := os.Stat(target); errors.Is(err, fs.ErrNotExist) {
			if err := os.Rename(filepath.Join(w.cfg.Dir, LogFileName(h.host)), target); err != nil {
				return err
			}
			break
		}
		stamp = stamp.Add(time.Second) // a file of an earlier run
	}
	h.lastStamp = stamp
	w.stats.Rotations++
	return nil
}

func (h *hostLog) close() error {
	if h.file == nil {
		return nil
	}
	err := h.w.Flush()
	err = errors.Join(err, h.file.Close())
	h.file, h.w = nil, nil
	return err
}

// logRow is what varies between rows.
type logRow struct {
	command    string
	result     int
	resultText string
	sessionID  string
	directory  string
	userID     string
	context    string
	message    string
}

// writeRow renders a row and appends it, rotating first when a limit says so.
func (w *LogWriter) writeRow(h *hostLog, r logRow, at time.Time) error {
	h.seq++
	id := w.uuid()
	sessionID := r.sessionID
	if sessionID == "" {
		sessionID = "0" // Qlik: no proxy session
	}
	objectID := "Not available"
	if app := appID(r.context); app != "" {
		objectID = app
	}
	b := w.row[:0]
	b = strconv.AppendInt(b, int64(h.seq), 10)
	b = appendField(b, w.cfg.ProductVersion)
	b = append(b, '\t')
	b = at.AppendFormat(b, TimestampLayout)
	b = appendField(b, h.host)
	b = appendField(b, id)
	b = append(b, '\t')
	b = append(b, "Command="...)
	b = appendClean(b, r.command)
	b = append(b, ";Result="...)
	b = strconv.AppendInt(b, int64(r.result), 10)
	b = append(b, ";ResultText="...)
	b = appendClean(b, r.resultText)
	b = appendField(b, sessionID)
	b = appendField(b, "0") // ProxyPackageId
	b = appendField(b, "0") // RequestSequenceId
	b = appendField(b, r.directory)
	b = appendField(b, r.userID)
	b = appendField(b, objectID)
	b = appendField(b, "Not available") // ObjectName
	b = appendField(b, "Proxy")         // Service
	b = appendField(b, "AppAccess")     // Origin
	b = appendField(b, r.context)
	b = appendField(b, r.command)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(r.result), 10)
	b = appendField(b, r.message)
	b = appendField(b, id) // Id2
	b = append(b, '\r', '\n')
	w.row = b

	if h.rows > 0 && (w.cfg.RotateBytes > 0 && h.size+int64(len(b)) > w.cfg.RotateBytes ||
		w.cfg.RotateAge > 0 && at.Sub(h.first) >= w.cfg.RotateAge) {
		if err := w.closeAndRename(h, at); err != nil {
			return err
		}
		if err := w.open(h); err != nil {
			return err
		}
	}
	if h.file == nil { // a failed rotation left no live file
		if err := w.open(h); err != nil {
			return err
		}
	}
	n, err := h.w.Write(b)
	h.size += int64(n)
	w.stats.Bytes += int64(n)
	if err != nil {
		return err
	}
	if h.rows == 0 {
		h.first = at
	}
	h.rows++
	if w.cfg.FlushEachRow {
		return h.w.Flush()
	}
	return nil
}

// appendField appends a tab and s.
func appendField(b []byte, s string) []byte {
	return appendClean(append(b, '\t'), s)
}

// appendClean appends s with tabs, CRs and LFs as spaces: a field holds none.
func appendClean(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\t' || c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// noiseCommands are commands of the AuditActivity.Proxy log that are not
// about sessions (made up: Qlik does not list them).
var noiseCommands = []string{"Login", "Logout", "Add ticket", "Redirect", "Validate ticket"}

// noiseRow is a row the plugin must ignore, about ev's user where it names one.
func (w *LogWriter) noiseRow(ev *Event) logRow {
	r := logRow{directory: ev.Directory, userID: ev.UserID, sessionID: ev.SessionID, context: "/hub/", resultText: "Success"}
	if r.directory == "" || r.userID == "" {
		r.directory, r.userID = "LAB", "noise"
	}
	switch w.rng.IntN(3) {
	case 0: // another command
		r.command = noiseCommands[w.rng.IntN(len(noiseCommands))]
		r.message = r.command + " for user '" + r.directory + `\` + r.userID + "'"
	case 1: // a tracked command that failed
		r.command = []string{"Start session", "Stop session", "Open connection", "Close connection"}[w.rng.IntN(4)]
		r.result = []int{403, 500, -1}[w.rng.IntN(3)]
		r.resultText = "Error: " + map[int]string{403: "Access denied", 500: "Internal server error", -1: "Engine not reachable"}[r.result]
		r.sessionID = w.uuid()
		r.message = r.command + " for user '" + r.directory + `\` + r.userID + "' failed"
	default: // the proxy API, outside any proxy session
		r.command, r.directory, r.userID, r.sessionID, r.context = "Get sessions", "INTERNAL", "sa_api", "", "/qps/session"
		r.message = "Get sessions for user 'INTERNAL\\sa_api'"
	}
	return r
}

func (w *LogWriter) uuid() string { return randomUUID(w.rng) }

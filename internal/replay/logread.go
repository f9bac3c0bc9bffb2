package replay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// HostLogs is what the replay's reader makes of one host's audit activity
// log files: the rotated ones in the order of their names, then the live one.
type HostLogs struct {
	Host      string
	Files     []string   // base names, in reading order
	Events    []LogEvent // the accepted rows, in order
	Ignored   int        // rows to ignore (untracked or failed commands)
	Malformed int        // rows that cannot be read
}

// ReadLogDir reads every proxy audit activity log file in dir (see
// logrow.go for the format), per host, sorted by host. Each file must open
// with a header row; a header row further down is taken as a new one.
func ReadLogDir(dir string) ([]HostLogs, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	rotated := make(map[string][]string)
	live := make(map[string]string)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if host, ok := strings.CutSuffix(name, "_AuditActivity_Proxy.txt"); ok {
			live[host] = name
			continue
		}
		if i := strings.LastIndex(name, "_AuditActivity_Proxy_"); i > 0 && strings.HasSuffix(name, ".log") {
			rotated[name[:i]] = append(rotated[name[:i]], name)
		}
	}
	var hosts []string
	for host := range live {
		hosts = append(hosts, host)
	}
	for host := range rotated {
		if _, ok := live[host]; !ok {
			hosts = append(hosts, host)
		}
	}
	sortFolded(hosts)
	out := make([]HostLogs, 0, len(hosts))
	for _, host := range hosts {
		files := rotated[host]
		slices.Sort(files)
		if name, ok := live[host]; ok {
			files = append(files, name)
		}
		hl := HostLogs{Host: host, Files: files}
		for _, name := range files {
			if err := readLogFile(filepath.Join(dir, name), &hl); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		out = append(out, hl)
	}
	return out, nil
}

func readLogFile(path string, hl *HostLogs) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var header *logHeader
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if header == nil || isLogHeader(line) {
				if header, err = parseLogHeader(line); err != nil {
					return fmt.Errorf("row %d: %w", n, err)
				}
				continue
			}
			switch ev, status := header.readRow(line); status {
			case Accepted:
				hl.Events = append(hl.Events, ev)
			case Ignored:
				hl.Ignored++
			default:
				hl.Malformed++
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// HasBOM tells whether a file opens with a UTF-8 byte order mark.
func HasBOM(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, len(bom))
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	return bytes.Equal(head[:n], []byte(bom)), nil
}

// ExpectFromLogDir is the active set the plugin must make of the log files
// in dir, by the replay's reader and model: the hosts' accepted rows merged
// by their time stamps (rows of the same millisecond on different hosts in
// host order), each applied at its own time, with the plugin's default
// reorder window. The users named in exclude (DIR\user, any case) are left
// out, as the plugin's exclude_users does. EventsSent is the number of
// accepted rows.
func ExpectFromLogDir(dir string, exclude ...string) (Expected, error) {
	events, err := logDirEvents(dir, exclude)
	if err != nil {
		return Expected{}, err
	}
	m := NewModel(ReorderWindow)
	for i := range events {
		m.Apply(&events[i].Event, events[i].Time)
	}
	return m.Snapshot(len(events)), nil
}

// logDirEvents are the accepted rows of the log files in dir but those of
// the users in exclude, merged by their time stamps (rows of the same
// moment in host order).
func logDirEvents(dir string, exclude []string) ([]LogEvent, error) {
	logs, err := ReadLogDir(dir)
	if err != nil {
		return nil, err
	}
	var events []LogEvent
	for _, hl := range logs {
		for _, ev := range hl.Events {
			name := ev.Directory + `\` + ev.UserID
			if !slices.ContainsFunc(exclude, func(excluded string) bool { return strings.EqualFold(excluded, name) }) {
				events = append(events, ev)
			}
		}
	}
	slices.SortStableFunc(events, func(a, b LogEvent) int { return a.Time.Compare(b.Time) })
	return events, nil
}

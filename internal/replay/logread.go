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

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/auditlog"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// HostLogs is what the plugin's parser reads in one host's audit activity
// log files: the rotated ones in the order of their names, then the live one.
type HostLogs struct {
	Host      string
	Files     []string        // base names, in reading order
	Events    []event.Event // the accepted rows, in order
	Ignored   int             // rows the parser ignored
	Malformed int             // rows the parser could not read
}

// ReadLogDir reads every proxy audit activity log file in dir through the
// plugin's parser (parsers/auditlog), per host, sorted by host. Each file must
// open with a header row; a header row further down is taken as a new one.
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
	var out []HostLogs
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
	var header *auditlog.Header
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if header == nil || auditlog.IsHeader(line) {
				if header, err = auditlog.ParseHeader(line); err != nil {
					return fmt.Errorf("row %d: %w", n, err)
				}
				continue
			}
			var ev event.Event
			switch status, _ := header.Parse(line, &ev); status {
			case auditlog.Accepted:
				hl.Events = append(hl.Events, ev) // its strings alias line, which is not reused
			case auditlog.Ignored:
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

// ExpectFromLogDir is the active set the plugin's parser and state make of
// the log files in dir: the hosts' accepted rows merged by their time stamps
// (rows of the same millisecond on different hosts in host order), each
// applied at its own time, with the default reorder window. The users
// named in exclude (DIR\user, any case) are left out, as the plugin's
// exclude_users does. EventsSent is the number of accepted rows.
func ExpectFromLogDir(dir string, exclude ...string) (Expected, error) {
	logs, err := ReadLogDir(dir)
	if err != nil {
		return Expected{}, err
	}
	var events []event.Event
	for _, hl := range logs {
		for _, ev := range hl.Events {
			if !slices.ContainsFunc(exclude, func(name string) bool { return strings.EqualFold(name, ev.UserName()) }) {
				events = append(events, ev)
			}
		}
	}
	slices.SortStableFunc(events, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	s := state.New(state.Config{ReorderWindow: state.DefaultReorderWindow})
	for i := range events {
		s.Apply(&events[i], events[i].Time)
	}
	return expectedOf(s, len(events)), nil
}

// expectedOf is the state's active set as an Expected.
func expectedOf(s *state.State, events int) Expected {
	changes := s.TakeChanges()
	site, servers := s.Summarise(changes)
	exp := Expected{EventsSent: events, ActiveUsers: site.ActiveUsers, ActiveSessions: site.ActiveSessions, Users: site.Users,
		Servers: []ServerExpected{}, Apps: []AppExpected{}}
	for _, srv := range servers {
		if srv.ActiveSessions > 0 {
			exp.Servers = append(exp.Servers, ServerExpected{Server: srv.Server, ActiveUsers: srv.ActiveUsers, ActiveSessions: srv.ActiveSessions, Users: srv.Users})
		}
	}
	for _, a := range s.SummariseApps(changes) {
		if a.ActiveUsers > 0 {
			exp.Apps = append(exp.Apps, AppExpected{App: a.App, ActiveUsers: a.ActiveUsers, ActiveConnections: a.ActiveConnections, Users: a.Users})
		}
	}
	return exp
}

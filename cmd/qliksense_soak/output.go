package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

// output keeps what the plugin last said: the newest summary of the site,
// of each server and of each app (a final zero stays as the last word of a
// server or app that emptied), and the newest internal metric.
type output struct {
	mu       sync.Mutex
	site     telegraf.Metric
	servers  map[string]telegraf.Metric
	apps     map[string]telegraf.Metric
	internal map[string]int64
	seq      int // internal metrics seen
	// foreign counts lines that are no metric of the plugin's (none but a
	// line split by a control character, or a forged one, would be).
	foreign int
}

func newOutput() *output {
	return &output{servers: make(map[string]telegraf.Metric), apps: make(map[string]telegraf.Metric), internal: make(map[string]int64)}
}

func (o *output) consume(r io.Reader) {
	parser := &influx.Parser{}
	if err := parser.Init(); err != nil {
		panic(err)
	}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "qliksense_") || strings.HasPrefix(line, forgedLine) {
			o.mu.Lock()
			o.foreign++
			o.mu.Unlock()
			continue
		}
		if !strings.HasPrefix(line, "qliksense_users") && !strings.HasPrefix(line, "qliksense_sessions_internal") {
			continue
		}
		m, err := parser.ParseLine(line)
		if err != nil {
			continue
		}
		o.mu.Lock()
		switch m.Name() {
		case "qliksense_users":
			o.site = m
		case "qliksense_users_server":
			o.servers[m.Tags()["server"]] = m
		case "qliksense_users_app":
			o.apps[m.Tags()["app_id"]] = m
		case "qliksense_sessions_internal":
			o.seq++
			o.internal = make(map[string]int64)
			for k, v := range m.Fields() {
				if n, ok := v.(int64); ok {
					o.internal[k] = n
				}
			}
		}
		o.mu.Unlock()
	}
}

func (o *output) internalFields() map[string]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.internal
}

func (o *output) internalWithSeq() (map[string]int64, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.internal, o.seq
}

func (o *output) internalSeq() int {
	_, seq := o.internalWithSeq()
	return seq
}

func (o *output) foreignLines() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.foreign
}

// group is a summary as the comparison sees it.
type group struct {
	users, sessions, connections int64
	names                        []string
	truncated                    bool
}

func groupOf(m telegraf.Metric) (group, error) {
	var g group
	if m == nil {
		return g, nil
	}
	g.users = intField(m, "active_users")
	g.sessions = intField(m, "active_sessions")
	g.connections = intField(m, "active_connections")
	if t, ok := m.GetField("users_truncated"); ok {
		if truncated, isBool := t.(bool); isBool && truncated {
			g.truncated = true
		}
	}
	list, _ := m.GetField("users")
	s, _ := list.(string)
	if err := json.Unmarshal([]byte(s), &g.names); err != nil {
		return g, fmt.Errorf("%s: users is not a JSON array: %.80q", m.Name(), s)
	}
	return g, nil
}

func intField(m telegraf.Metric, key string) int64 {
	v, _ := m.GetField(key)
	n, _ := v.(int64)
	return n
}

// comparison is the last summaries against the expected set.
type comparison struct {
	servers, apps       int // compared
	serversOK, appsOK   int
	siteUsers, sessions int64
	diffs               []string
}

func (c comparison) ok() bool { return len(c.diffs) == 0 }

func (c comparison) summary(want replay.Expected) string {
	return fmt.Sprintf("site %d users / %d sessions (expected %d / %d); %d of %d servers and %d of %d apps equal, counts and user lists",
		c.siteUsers, c.sessions, want.ActiveUsers, want.ActiveSessions, c.serversOK, c.servers, c.appsOK, c.apps)
}

// compare checks the site, every server and every app: the expected ones
// must match exactly, any other must be zero (its final summary).
func (o *output) compare(want replay.Expected) comparison {
	o.mu.Lock()
	defer o.mu.Unlock()
	var c comparison
	note := func(format string, args ...any) {
		if len(c.diffs) < 20 {
			c.diffs = append(c.diffs, fmt.Sprintf(format, args...))
		}
	}
	check := func(what string, got group, users, sessions, connections int64, names []string, withSessions bool) bool {
		ok := true
		if got.truncated {
			note("%s: the users list was cut (users_truncated): raise users_max_bytes or lower -users", what)
			ok = false
		}
		if got.users != users || withSessions && got.sessions != sessions || !withSessions && got.connections != connections {
			if withSessions {
				note("%s: %d users / %d sessions, expected %d / %d", what, got.users, got.sessions, users, sessions)
			} else {
				note("%s: %d users / %d connections, expected %d / %d", what, got.users, got.connections, users, connections)
			}
			ok = false
		}
		if !slices.Equal(got.names, names) {
			missing, extra := listDiff(names, got.names)
			note("%s: users list differs: missing %s, unexpected %s", what, firstFew(missing), firstFew(extra))
			ok = false
		}
		return ok
	}

	if o.site == nil {
		note("no qliksense_users summary seen")
		return c
	}
	site, err := groupOf(o.site)
	if err != nil {
		note("%v", err)
	}
	c.siteUsers, c.sessions = site.users, site.sessions
	check("site", site, int64(want.ActiveUsers), int64(want.ActiveSessions), 0, want.Users, true)

	expectedServers := make(map[string]bool)
	for _, srv := range want.Servers {
		expectedServers[srv.Server] = true
		c.servers++
		got, err := groupOf(o.servers[srv.Server])
		if err != nil {
			note("%v", err)
		}
		if check("server "+srv.Server, got, int64(srv.ActiveUsers), int64(srv.ActiveSessions), 0, srv.Users, true) {
			c.serversOK++
		}
	}
	for name, m := range o.servers {
		//nolint:errcheck // a summary that does not parse counts as empty, and none is expected
		if got, _ := groupOf(m); !expectedServers[name] && (got.users != 0 || got.sessions != 0) {
			note("server %s: %d users / %d sessions, expected none", name, got.users, got.sessions)
		}
	}
	expectedApps := make(map[string]bool)
	for _, a := range want.Apps {
		expectedApps[strings.ToLower(a.App)] = true
		c.apps++
		got, err := groupOf(o.appNamed(a.App))
		if err != nil {
			note("%v", err)
		}
		if check("app "+a.App, got, int64(a.ActiveUsers), 0, int64(a.ActiveConnections), a.Users, false) {
			c.appsOK++
		}
	}
	for id, m := range o.apps {
		//nolint:errcheck // a summary that does not parse counts as empty, and none is expected
		if got, _ := groupOf(m); !expectedApps[strings.ToLower(id)] && (got.users != 0 || got.connections != 0) {
			note("app %s: %d users / %d connections, expected none", id, got.users, got.connections)
		}
	}
	return c
}

// appNamed finds an app's summary by its id, in any case.
func (o *output) appNamed(id string) telegraf.Metric {
	if m, ok := o.apps[id]; ok {
		return m
	}
	for other, m := range o.apps {
		if strings.EqualFold(other, id) {
			return m
		}
	}
	return nil
}

// listDiff is what want has and got lacks, and the reverse.
func listDiff(want, got []string) (missing, extra []string) {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, s := range list {
			m[s] = true
		}
		return m
	}
	inWant, inGot := in(want), in(got)
	for _, s := range want {
		if !inGot[s] {
			missing = append(missing, s)
		}
	}
	for _, s := range got {
		if !inWant[s] {
			extra = append(extra, s)
		}
	}
	return missing, extra
}

func firstFew(names []string) string {
	if len(names) == 0 {
		return "none (same names, other order)"
	}
	if len(names) > 5 {
		return fmt.Sprintf("%q and %d more", names[:5], len(names)-5)
	}
	return fmt.Sprintf("%q", names)
}

// lineLog keeps the last lines of the plugin's stderr and says when one
// containing ready came.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	want  string
	ready chan struct{}
}

func newLineLog(ready string) *lineLog { return &lineLog{want: ready, ready: make(chan struct{})} }

func (l *lineLog) consume(r io.Reader) {
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		line := scanner.Text()
		l.mu.Lock()
		if l.want != "" && strings.Contains(line, l.want) {
			close(l.ready)
			l.want = ""
		}
		l.lines = append(l.lines, line)
		if len(l.lines) > 200 {
			l.lines = slices.Delete(l.lines, 0, 100)
		}
		l.mu.Unlock()
	}
}

func (l *lineLog) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

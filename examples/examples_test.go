// Package examples holds the configuration files the project ships; its
// tests check the log4net ones (LocalLogConfig*.xml) as the Qlik Sense
// proxy would read them.
package examples

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/log4net"
)

// log4netConfig is the part of a log4net XML configuration the proxy's
// LocalLogConfig.xml uses.
type log4netConfig struct {
	XMLName   xml.Name   `xml:"configuration"`
	Appenders []appender `xml:"appender"`
	Loggers   []logger   `xml:"logger"`
}

type appender struct {
	Name    string   `xml:"name,attr"`
	Type    string   `xml:"type,attr"`
	Filters []filter `xml:"filter"`
	Params  []param  `xml:"param"`
	Layout  struct {
		Type   string  `xml:"type,attr"`
		Params []param `xml:"param"`
	} `xml:"layout"`
}

type filter struct {
	Type   string  `xml:"type,attr"`
	Params []param `xml:"param"`
}

type param struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type logger struct {
	Name string `xml:"name,attr"`
	Refs []struct {
		Ref string `xml:"ref,attr"`
	} `xml:"appender-ref"`
}

func paramValue(params []param, name string) (string, bool) {
	for _, p := range params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// parseConfig checks that data is well-formed XML (strict, to the end) and
// reads it as log4net would: appender names unique, every appender-ref
// naming an appender.
func parseConfig(data []byte) (*log4netConfig, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed: %w", err)
		}
	}
	var cfg log4netConfig
	if err := xml.Unmarshal(data, &cfg); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, a := range cfg.Appenders {
		if a.Name == "" || a.Type == "" {
			return nil, fmt.Errorf("an appender without name or type: %+v", a)
		}
		if names[a.Name] {
			return nil, fmt.Errorf("appender %q defined twice", a.Name)
		}
		names[a.Name] = true
	}
	for _, l := range cfg.Loggers {
		for _, r := range l.Refs {
			if !names[r.Ref] {
				return nil, fmt.Errorf("logger %q refers to appender %q, which is not defined", l.Name, r.Ref)
			}
		}
	}
	return &cfg, nil
}

// appendersOf returns the appenders a logger sends to. log4net reads the
// logger elements in order and empties the logger of its appenders at each
// (XmlHierarchyConfigurator.ParseChildrenOfLoggerElement calls
// RemoveAllAppenders): the last element for a name wins.
func (c *log4netConfig) appendersOf(name string) []appender {
	var out []appender
	for _, l := range c.Loggers {
		if l.Name != name {
			continue
		}
		out = out[:0]
		for _, r := range l.Refs {
			for _, a := range c.Appenders {
				if a.Name == r.Ref {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// passes runs a message at INFO level through an appender's threshold and
// filter chain as log4net does: a StringMatchFilter accepts (or, with
// acceptOnMatch false, denies) a message that contains its string and is
// neutral otherwise; DenyAllFilter denies; a message no filter decided on
// is logged.
func passes(t *testing.T, a appender, message string) bool {
	t.Helper()
	if threshold, ok := paramValue(a.Params, "threshold"); ok {
		levels := map[string]int{"all": 0, "debug": 1, "info": 2, "warn": 3, "error": 4, "fatal": 5, "off": 6}
		level, known := levels[strings.ToLower(threshold)]
		require.True(t, known, "appender %s: threshold %q", a.Name, threshold)
		if level > levels["info"] {
			return false
		}
	}
	for _, f := range a.Filters {
		switch f.Type {
		case "log4net.Filter.StringMatchFilter":
			match, ok := paramValue(f.Params, "stringToMatch")
			require.True(t, ok, "appender %s: a StringMatchFilter without stringToMatch", a.Name)
			accept := true
			if v, ok := paramValue(f.Params, "acceptOnMatch"); ok {
				accept = strings.EqualFold(v, "true")
			}
			if strings.Contains(message, match) { // String.IndexOf: case-sensitive
				return accept
			}
		case "log4net.Filter.DenyAllFilter":
			return false
		default:
			t.Fatalf("appender %s: filter %s is not modelled", a.Name, f.Type)
		}
	}
	return true
}

// render fills a PatternLayout's conversion pattern for one event.
func render(pattern string, props map[string]string, hostname, message string) string {
	r := strings.NewReplacer("%hostname", hostname, "%message", message)
	for name, value := range props {
		pattern = strings.ReplaceAll(pattern, "%property{"+name+"}", value)
	}
	return r.Replace(pattern)
}

// proxyMessages are the proxy's AuditActivity messages for the four
// commands, from the recorded sample day, and some it must not send.
func proxyMessages(t *testing.T) (map[event.Command][]string, []string) {
	t.Helper()
	data, err := os.ReadFile("../testdata/sample-day.txt")
	require.NoError(t, err)
	messages := map[event.Command][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), ";", 8)
		if len(f) < 8 {
			continue
		}
		cmd := event.ParseCommand(f[2])
		if cmd != event.Unknown && len(messages[cmd]) < 20 {
			messages[cmd] = append(messages[cmd], f[7])
		}
	}
	require.Len(t, messages, 4, "the sample day has all four commands")
	others := []string{
		"Authentication successful for user 'LAB\\anna'",
		"Ticket issued for user 'LAB\\anna'",
		"Login for user 'LAB\\anna'",
		"Logout for user 'LAB\\anna'",
		"Stop Session for user 'LAB\\anna'", // not the proxy's spelling
		"Connection opened for session 'x'",
	}
	return messages, others
}

// requireSendsTheFourMessages checks what cfg's AuditActivity.Proxy logger
// sends to qliksense_sessions: each of the four messages through exactly one
// appender, rendered so that the plugin's parser reads the event back, and
// nothing else.
func requireSendsTheFourMessages(t *testing.T, cfg *log4netConfig, host, port string) {
	t.Helper()
	var ours []appender
	for _, a := range cfg.appendersOf("AuditActivity.Proxy") {
		if strings.HasPrefix(a.Name, "QlikSenseSessions") {
			ours = append(ours, a)
		}
	}
	require.Len(t, ours, 2, "the session and the connection appender")
	for _, a := range ours {
		require.Equal(t, "log4net.Appender.UdpAppender", a.Type)
		for name, want := range map[string]string{"remoteAddress": host, "remotePort": port, "encoding": "utf-8"} {
			got, _ := paramValue(a.Params, name)
			require.Equal(t, want, got, "appender %s: %s", a.Name, name)
		}
		require.Equal(t, "log4net.Layout.PatternLayout", a.Layout.Type)
	}

	messages, others := proxyMessages(t)
	for cmd, list := range messages {
		for _, msg := range list {
			var sent []appender
			for _, a := range ours {
				if passes(t, a, msg) {
					sent = append(sent, a)
				}
			}
			require.Len(t, sent, 1, "%s: %q goes out once", cmd, msg)
			pattern, _ := paramValue(sent[0].Layout.Params, "conversionpattern")
			payload := render(pattern, map[string]string{
				"Command": cmd.String(), "UserDirectory": "LAB", "UserId": "anna", "Origin": "AppAccess", "Context": "/hub/",
			}, "SENSE1", msg)
			var ev event.Event
			status, reason := log4net.Parse([]byte(payload), &ev)
			require.Equal(t, event.Accepted, status, "%s: %s (%s)", sent[0].Name, payload, reason)
			require.Equal(t, event.Event{Server: "SENSE1", Command: cmd, Directory: "LAB", UserID: "anna", Origin: "AppAccess",
				Context: "/hub/", Message: msg, SessionID: ev.SessionID}, ev)
		}
	}
	for _, msg := range others {
		for _, a := range ours {
			require.False(t, passes(t, a, msg), "%s must not send %q", a.Name, msg)
		}
	}
}

// TestShippedLocalLogConfigs: every LocalLogConfig*.xml shipped is
// well-formed, and its filters let exactly the four messages through.
func TestShippedLocalLogConfigs(t *testing.T) {
	files, err := filepath.Glob("LocalLogConfig*.xml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			require.True(t, bytes.HasPrefix(data, []byte(`<?xml version="1.0" encoding="utf-8"?>`)), "an XML declaration first")
			cfg, err := parseConfig(data)
			require.NoError(t, err)
			require.Len(t, cfg.Appenders, 2)
			requireSendsTheFourMessages(t, cfg, "TELEGRAF_HOST", "9997")
		})
	}
}

// mergeInto follows the merge steps in LocalLogConfig.xml's comment, to the
// letter: our appenders after the target's <configuration> line, our
// appender-refs into its AuditActivity.Proxy logger, TELEGRAF_HOST replaced.
func mergeInto(t *testing.T, target, ours, telegrafHost string) string {
	t.Helper()
	block := func(text, what string) string {
		begin := strings.Index(text, "<!-- BEGIN qliksense_sessions "+what+" -->")
		endMarker := "<!-- END qliksense_sessions " + what + " -->"
		end := strings.Index(text, endMarker)
		require.True(t, begin >= 0 && end > begin, "markers of %s", what)
		// Whole lines, from the BEGIN line's start to the END line's end.
		begin = strings.LastIndex(text[:begin], "\n") + 1
		return text[begin:end+len(endMarker)] + "\n"
	}
	appenders, refs := block(ours, "appenders"), block(ours, "appender-refs")

	// 1. After the <configuration> line.
	i := strings.Index(target, "<configuration>")
	require.GreaterOrEqual(t, i, 0)
	i += strings.Index(target[i:], "\n") + 1
	merged := target[:i] + appenders + target[i:]

	// 2. Into <logger name="AuditActivity.Proxy">, before its </logger>.
	j := strings.Index(merged, `<logger name="AuditActivity.Proxy">`)
	require.GreaterOrEqual(t, j, 0, "the target has the logger")
	k := j + strings.Index(merged[j:], "</logger>")
	k = strings.LastIndex(merged[:k], "\n") + 1
	merged = merged[:k] + refs + merged[k:]

	// 3.
	return strings.ReplaceAll(merged, "TELEGRAF_HOST", telegrafHost)
}

// TestLocalLogConfigMergesWithButlerSOS: merged as LocalLogConfig.xml says
// into a Butler SOS proxy config, both send: Butler SOS keeps its session,
// connection and log-event appenders (9996), qliksense_sessions gets the
// four messages. A second AuditActivity.Proxy logger element instead would
// silently cut Butler SOS off.
func TestLocalLogConfigMergesWithButlerSOS(t *testing.T) {
	ours, err := os.ReadFile("LocalLogConfig.xml")
	require.NoError(t, err)
	butlerSOS, err := os.ReadFile("testdata/butler-sos-proxy-LocalLogConfig.xml")
	require.NoError(t, err)
	before, err := parseConfig(butlerSOS)
	require.NoError(t, err)

	merged := mergeInto(t, string(butlerSOS), string(ours), "10.0.0.5")
	cfg, err := parseConfig([]byte(merged))
	require.NoError(t, err, merged)
	requireSendsTheFourMessages(t, cfg, "10.0.0.5", "9997")

	// Butler SOS's appenders and loggers are all still there, unchanged.
	for _, a := range before.Appenders {
		require.True(t, slices.ContainsFunc(cfg.Appenders, func(b appender) bool { return fmt.Sprint(a) == fmt.Sprint(b) }), a.Name)
	}
	names := func(list []appender) []string {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, a.Name)
		}
		return out
	}
	require.Equal(t, []string{"EventSession", "EventConnection", "QlikSenseSessionsSession", "QlikSenseSessionsConnection"},
		names(cfg.appendersOf("AuditActivity.Proxy")))
	for _, l := range []string{"Audit.Proxy", "AuditSecurity", "Security.Proxy", "System.Proxy"} {
		require.Equal(t, []string{"LogEvent"}, names(cfg.appendersOf(l)), l)
	}
	logEvent := cfg.Appenders[slices.IndexFunc(cfg.Appenders, func(a appender) bool { return a.Name == "LogEvent" })]
	port, _ := paramValue(logEvent.Params, "remotePort")
	require.Equal(t, "9996", port)

	// Butler SOS still gets the session and connection messages too.
	messages, _ := proxyMessages(t)
	for cmd, list := range messages {
		var theirs int
		for _, a := range cfg.appendersOf("AuditActivity.Proxy") {
			if strings.HasPrefix(a.Name, "Event") && passes(t, a, list[0]) {
				theirs++
			}
		}
		require.Equal(t, 1, theirs, "%s reaches Butler SOS once", cmd)
	}

	// The trap: our appenders and our whole logger element added as they
	// are, a second AuditActivity.Proxy logger.
	text := string(ours)
	loggerStart := strings.LastIndex(text, `<logger name="AuditActivity.Proxy">`) // the first is in the comment
	loggerEnd := loggerStart + strings.Index(text[loggerStart:], "</logger>") + len("</logger>")
	appendersStart := strings.Index(text, "<!-- BEGIN qliksense_sessions appenders -->")
	naive := strings.Replace(string(butlerSOS), "</configuration>",
		text[appendersStart:loggerEnd]+"\n</configuration>", 1)
	wrong, err := parseConfig([]byte(naive))
	require.NoError(t, err, naive)
	require.Equal(t, []string{"QlikSenseSessionsSession", "QlikSenseSessionsConnection"}, names(wrong.appendersOf("AuditActivity.Proxy")),
		"log4net keeps only the last logger element: Butler SOS would get no session events")
}

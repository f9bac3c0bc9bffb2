//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// butler6 is Butler 6.1.1's handling of session and connection events,
// written for this test from its src/udp/udp_handlers.js and
// src/mqtt/mqtt_handlers.js (5.4.x has the same code), independently of the
// plugin's package butler. It records what Butler publishes, in order.
type butler6 struct {
	users     []string                   // globals.currentUsers' keys, in insertion order (dict@1.4.0)
	servers   []string                   // globals.currentUsersPerServer's keys, in insertion order
	perServer map[string]map[string]bool // its values: the users per server
	published []mqttMessage
}

// Butler's default topics (config/production_template.yaml).
const (
	topicSessionStart    = "qliksense/session/start"
	topicSessionStop     = "qliksense/session/stop"
	topicConnectionOpen  = "qliksense/connection/open"
	topicConnectionClose = "qliksense/connection/close"
	topicCount           = "qliksense/users/active/count"
	topicUsernames       = "qliksense/users/active/usernames"
)

// udp is the session server's 'message' handler.
func (b *butler6) udp(datagram []byte) {
	// message.toString(): UTF-8, each bad byte a U+FFFD (the test sends
	// only isolated bad bytes, where Node and ToValidUTF8 agree).
	text := strings.ToValidUTF8(string(datagram), "\ufffd")
	msg := strings.Split(text, ";")
	if len(msg) < 5 {
		return // not in this test's traffic (JS would print "undefined")
	}
	topic := map[string]string{
		"Start session": topicSessionStart, "Stop session": topicSessionStop,
		"Open connection": topicConnectionOpen, "Close connection": topicConnectionClose,
	}[msg[2]]
	if topic == "" {
		return
	}
	message := msg[1] + ": " + msg[3] + "/" + msg[4]
	b.publish(topic, message)
	// Butler subscribes to qliksense/#: its own message comes back.
	b.mqtt(topic, message)
}

// mqtt is the MQTT client's 'message' handler.
func (b *butler6) mqtt(topic, message string) {
	if topic != topicSessionStart && topic != topicConnectionOpen && topic != topicSessionStop {
		return
	}
	array1 := strings.Split(message, ": ")
	serverName := array1[0]
	array2 := strings.Split(array1[1], "/")
	if len(array2) < 2 {
		return // userName is undefined: dict's set/delete throws, nothing is published
	}
	userName := array2[1]
	if topic == topicSessionStop {
		if i := slices.Index(b.users, userName); i >= 0 {
			b.users = slices.Delete(b.users, i, i+1)
		}
		if list, ok := b.perServer[serverName]; ok {
			delete(list, userName)
			b.publishServers()
		}
	} else {
		if !slices.Contains(b.users, userName) {
			b.users = append(b.users, userName)
		}
		if b.perServer[serverName] == nil {
			b.perServer[serverName] = map[string]bool{}
			b.servers = append(b.servers, serverName)
		}
		b.perServer[serverName][userName] = true
		b.publishServers()
	}
	b.publish(topicCount, strconv.Itoa(len(b.users)))
	b.publish(topicUsernames, jsonStringify(b.users))
}

func (b *butler6) publishServers() {
	for _, s := range b.servers {
		b.publish("qliksense/users/activeperserver/"+s+"/count", strconv.Itoa(len(b.perServer[s])))
	}
}

func (b *butler6) publish(topic, payload string) {
	b.published = append(b.published, mqttMessage{topic, payload})
}

// jsonStringify is JSON.stringify of an array of strings, for strings
// without U+2028 and U+2029 (which Go escapes and JavaScript does not).
func jsonStringify(list []string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(append(make([]string, 0, len(list)), list...)); err != nil { // [], not null, for none
		panic(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func (b *butler6) byTopic() map[string][]string {
	out := map[string][]string{}
	for _, m := range b.published {
		out[m.topic] = append(out[m.topic], m.payload)
	}
	return out
}

// butlerTraffic writes the test's traffic to a file for the replay tool and
// returns its datagrams: simulated proxies (users with several sessions,
// directories in varying case, three servers) between hand-made events for
// what Butler gets wrong: one id in two directories, ids differing in case,
// a stop through another server or one Butler never saw, a stop before its
// start, a connection of a session older than the listener, "/" and ": " in
// ids and directories, quotes and backslashes, non-ASCII, and a
// Windows-1252 name.
func butlerTraffic(t *testing.T, bin, dir string) [][]byte {
	t.Helper()
	simulated := filepath.Join(dir, "simulated.txt")
	replayTraffic(t, bin, "-users", "40", "-directories", "3", "-servers", "3", "-events", "1500",
		"-seed", "61", "-out", simulated)
	sim, err := os.ReadFile(simulated)
	require.NoError(t, err)

	session := func(server, command, directory, user string) string {
		return fmt.Sprintf(`/qseow-proxy-session/;%s;%s;%s;%s;AppAccess;/hub/;%s for user '%s\%s'`,
			server, command, directory, user, command, directory, user)
	}
	connection := func(server, command, directory, user string) string {
		verb := map[string]string{"Open connection": "Opened", "Close connection": "Closed"}[command]
		return fmt.Sprintf(`/qseow-proxy-connection/;%s;%s;%s;%s;AppAccess;/hub/;connection %s for session '0f9e8d7c-6b5a-4321-9876-fedcba987654'`,
			server, command, directory, user, verb)
	}
	before := []string{
		session("SENSE1", "Start session", "LAB", "admin"),
		session("SENSE2", "Start session", "CORP", "admin"), // the same admin for Butler
		connection("SENSE2", "Open connection", "CORP", "admin"),
		session("SENSE1", "Start session", "LAB", "Kim"),
		session("SENSE2", "Start session", "LAB", "kim"), // another user for Butler
		session("SENSE1", "Start session", "LAB", "a/b"),
		session("SENSE3", "Start session", "D/E", "u"),
		session("SENSE3", "Start session", "LAB", "x: y"),
		session("SENSE1", "Start session", "LAB", `o"neil`),
		session("SENSE2", "Start session", "LAB", `back\slash`),
		session("SENSE2", "Start session", "LAB", "zoë"),
		session("SENSE3", "Start session", "LAB", "😀"),
		"/qseow-proxy-session/;SENSE1;Start session;LAB;j\xf6rg;AppAccess;/hub/;Start session for user 'LAB\\j\xf6rg'",
	}
	after := []string{
		session("SENSE2", "Stop session", "CORP", "admin"), // and LAB\admin is gone for Butler
		session("SENSE1", "Stop session", "LAB", "KIM"),    // no one for Butler
		session("SENSE2", "Stop session", "LAB", "a/c"),    // a/b for Butler
		session("SENSE2", "Stop session", "LAB", "x"),      // through another server
		connection("SENSE9", "Open connection", "LAB", "late"),
		connection("SENSE9", "Close connection", "LAB", "late"),
		session("SENSE8", "Stop session", "LAB", "late"), // a server Butler never saw
		session("SENSE3", "Stop session", "LAB", "😀"),
		"/qseow-proxy-session/;SENSE1;Stop session;LAB;j\xf6rg;AppAccess;/hub/;Stop session for user 'LAB\\j\xf6rg'",
		session("SENSE1", "Start session", "LAB", "admin"),
		// A short session whose Stop overtook its Start.
		session("SENSE3", "Stop session", "LAB", "quick"),
		session("SENSE3", "Start session", "LAB", "quick"),
	}
	middle := strings.Split(strings.TrimSpace(string(sim)), "\n")
	all := make([]string, 0, len(before)+len(middle)+len(after))
	all = append(all, before...)
	all = append(all, middle...)
	all = append(all, after...)
	path := filepath.Join(dir, "traffic.txt")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(all, "\n")+"\n"), 0o600))
	datagrams := make([][]byte, len(all))
	for i, line := range all {
		datagrams[i] = []byte(line)
	}
	return datagrams
}

// TestMQTTButlerCompat runs the shipped examples/telegraf-mqtt-butler.conf
// with butler_summaries = true against a real mosquitto, and an independent
// model of Butler 6.1.1 on the same traffic: every topic carries exactly
// Butler's payloads, in Butler's order, byte for byte, and nothing else (the
// traffic spans a gather, whose summaries must not be published). The
// topics of the ordered output (events, per-server counts, count) arrive
// interleaved exactly as Butler published them.
func TestMQTTButlerCompat(t *testing.T) {
	bin, broker, sub := startMQTT(t)
	dir, udpPort := t.TempDir(), freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, "  butler_summaries = true")
	tg := startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-mqtt-butler.conf"),
		exampleEnv(bin, pluginConf, "QSS_MQTT_SERVER="+broker))

	datagrams := butlerTraffic(t, bin, dir)
	model := &butler6{perServer: map[string]map[string]bool{}}
	for _, d := range datagrams {
		model.udp(d)
	}
	want := model.byTopic()
	require.Contains(t, want, "qliksense/users/activeperserver/SENSE9/count", "a server first seen in an Open connection")
	require.NotContains(t, want, "qliksense/users/activeperserver/SENSE8/count", "a server seen only in a Stop session")
	require.Len(t, want, 4+2+4, "every event topic, count, usernames and four servers")

	start := time.Now()
	replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort), "-file", filepath.Join(dir, "traffic.txt"), "-rate", "120")
	require.Greater(t, time.Since(start), 11*time.Second, "the traffic spans a gather (every 10 s)")

	received := func(want map[string][]string) func() bool {
		return func() bool {
			for topic, payloads := range want {
				if len(sub.payloads(topic)) < len(payloads) {
					return false
				}
			}
			return true
		}
	}
	require.Eventually(t, received(want), 60*time.Second, 100*time.Millisecond, "not every topic got Butler's number of messages")
	// A marker after the traffic: a start publishes on both outputs'
	// connections (its event and counts on one, usernames on the other), so
	// once every topic got Butler's number of messages with the marker's,
	// anything extra the traffic made has arrived before them.
	marker := `/qseow-proxy-session/;SENSE1;Start session;LAB;marker;AppAccess;/hub/;Start session for user 'LAB\marker'`
	model.udp([]byte(marker))
	want = model.byTopic()
	sendDatagrams(t, dialPlugin(t, udpPort), marker)
	require.Eventually(t, received(want), 60*time.Second, 100*time.Millisecond, "not every topic got the marker's messages")

	got := map[string][]string{}
	for _, m := range sub.all() {
		got[m.topic] = append(got[m.topic], m.payload)
	}
	for topic, payloads := range want {
		require.Equal(t, payloads, got[topic], "topic %s", topic)
		t.Logf("%s: %d messages, last %s", topic, len(payloads), payloads[len(payloads)-1])
	}
	for topic := range got {
		_, ok := want[topic]
		require.True(t, ok, "a topic Butler never published: %s", topic)
	}

	// One output carries all but the usernames: in Butler's order.
	ordered := func(msgs []mqttMessage) []string {
		var out []string
		for _, m := range msgs {
			if m.topic != topicUsernames {
				out = append(out, m.topic+" "+m.payload)
			}
		}
		return out
	}
	require.Equal(t, ordered(model.published), ordered(sub.all()), "events and counts in Butler's order")

	// The exact summaries still went out at the gathers, to the outputs that
	// take them (here none).
	requireNoErrorLines(t, tg.log())
}

// TestButlerSummariesStayOnMQTT: with butler_summaries, the InfluxDB and
// Prometheus examples store none of the _butler measurements.
func TestButlerSummariesStayOnMQTT(t *testing.T) {
	bin := binDir(t)
	traffic := []string{
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;Start session for user 'LAB\anna'`,
		`/qseow-proxy-session/;SENSE2;Start session;LAB;maria;AppAccess;/hub/;Start session for user 'LAB\maria'`,
	}
	send := func(t *testing.T, udpPort int) {
		path := filepath.Join(t.TempDir(), "traffic.txt")
		require.NoError(t, os.WriteFile(path, []byte(strings.Join(traffic, "\n")), 0o600))
		replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort), "-file", path)
	}

	t.Run("prometheus", func(t *testing.T) {
		udpPort := freeUDPPort(t)
		listen := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
		pluginConf := pluginConfig(t, t.TempDir(), udpPort, "  butler_summaries = true")
		startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-prometheus.conf"),
			exampleEnv(bin, pluginConf, "QSS_PROMETHEUS_LISTEN="+listen))
		send(t, udpPort)
		var exp *exposition
		require.Eventually(t, func() bool {
			exp = scrape(t, "http://"+listen+"/metrics")
			return exp != nil && exp.types["qliksense_users_active_users"] != ""
		}, 30*time.Second, 250*time.Millisecond, "no gathered summary served")
		for name := range exp.types {
			require.False(t, strings.HasPrefix(name, "qliksense_users_butler") || strings.HasPrefix(name, "qliksense_users_server_butler"),
				"Butler's counts are for MQTT: %s", name)
		}
		// The Butler model's own counters and gauges.
		require.Eventually(t, func() bool {
			exp = scrape(t, "http://"+listen+"/metrics")
			return exp.types["qliksense_sessions_internal_tracked_butler_users"] == "gauge" &&
				exp.types["qliksense_sessions_internal_butler_events_refused_max_users"] == "counter"
		}, 30*time.Second, 250*time.Millisecond, "the Butler model's counters: %v", exp.qliksenseTypes())
	})

	t.Run("influxdb", func(t *testing.T) {
		base := startInfluxDB(t)
		const db = "qliksense_butler"
		influxQuery(t, base, "", "CREATE DATABASE "+db)
		udpPort := freeUDPPort(t)
		pluginConf := pluginConfig(t, t.TempDir(), udpPort, "  butler_summaries = true")
		startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-influxdb.conf"),
			exampleEnv(bin, pluginConf, "QSS_INFLUXDB_URL="+base, "QSS_INFLUXDB_DATABASE="+db))
		send(t, udpPort)
		measurements := func() []string {
			var names []string
			for _, rows := range influxQuery(t, base, db, "SHOW MEASUREMENTS") {
				for _, row := range rows {
					names = append(names, fmt.Sprint(row[0]))
				}
			}
			return names
		}
		// The events and Butler's counts leave the plugin together; the
		// summaries come with the first gather, after them.
		require.Eventually(t, func() bool {
			return slices.Contains(measurements(), "qliksense_users") && slices.Contains(measurements(), "qliksense_session_event")
		}, 60*time.Second, 250*time.Millisecond, "no summaries and events in InfluxDB")
		for _, name := range measurements() {
			require.False(t, strings.HasSuffix(name, "_butler"), "Butler's counts are for MQTT: %s", name)
		}
	})
}

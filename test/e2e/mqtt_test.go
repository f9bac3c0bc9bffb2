//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/replay"
)

type mqttMessage struct{ topic, payload string }

// subscriber records every message below a topic filter, in order.
type subscriber struct {
	mu       sync.Mutex
	messages []mqttMessage
}

func (s *subscriber) all() []mqttMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mqttMessage(nil), s.messages...)
}

// last returns the last payload on a topic, "" if none came.
func (s *subscriber) last(topic string) string {
	msgs := s.all()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].topic == topic {
			return msgs[i].payload
		}
	}
	return ""
}

// payloads returns every payload on a topic, in order.
func (s *subscriber) payloads(topic string) []string {
	var out []string
	for _, m := range s.all() {
		if m.topic == topic {
			out = append(out, m.payload)
		}
	}
	return out
}

func startMosquitto(t *testing.T) string {
	t.Helper()
	bin := serverBinary(t, "mosquitto", "mosquitto")
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	require.NoError(t, os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\npersistence false\n"+
		// QoS 0 messages beyond 1000 queued for a subscriber are dropped by
		// default; the tests count every message.
		"max_queued_messages 0\n"), 0o600))
	startServer(t, bin, tcpReady(addr), "-c", conf)
	return addr
}

// startMQTT is where an MQTT test starts: the binaries' folder, a
// mosquitto and a subscriber to all its topics.
func startMQTT(t *testing.T) (bin, broker string, sub *subscriber) {
	t.Helper()
	bin = binDir(t)
	broker = startMosquitto(t)
	return bin, broker, subscribe(t, broker)
}

// subscribe subscribes to every topic on broker.
func subscribe(t *testing.T, broker string) *subscriber {
	t.Helper()
	sub := &subscriber{}
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("qss-e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	client := mqtt.NewClient(opts)
	token := client.Connect()
	require.True(t, token.WaitTimeout(10*time.Second))
	require.NoError(t, token.Error())
	token = client.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) {
		sub.mu.Lock()
		sub.messages = append(sub.messages, mqttMessage{m.Topic(), string(m.Payload())})
		sub.mu.Unlock()
	})
	require.True(t, token.WaitTimeout(10*time.Second))
	require.NoError(t, token.Error())
	t.Cleanup(func() { client.Disconnect(250) })
	return sub
}

// butlerJSON renders users as Butler's usernames topic carried them
// (JSON.stringify: no HTML escaping, no spaces).
func butlerJSON(t *testing.T, users []string) string {
	t.Helper()
	if users == nil {
		users = make([]string, 0) // [], not null
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(users))
	return strings.TrimSuffix(buf.String(), "\n")
}

// butlerEventTopics maps a log4net command to its Butler topic.
var butlerEventTopics = map[string]string{
	"Start session": "session/start", "Stop session": "session/stop",
	"Open connection": "connection/open", "Close connection": "connection/close",
}

// TestMQTTButlerTopics runs the shipped examples/telegraf-mqtt-butler.conf,
// with its default prefix and the plugin's default summaries (exact, on
// change only: the gathered ones are not published), against a real
// mosquitto and checks every topic a Butler consumer reads, payload by
// payload.
func TestMQTTButlerTopics(t *testing.T) {
	bin, broker, sub := startMQTT(t)
	dir, udpPort := t.TempDir(), freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, "")
	startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-mqtt-butler.conf"),
		exampleEnv(bin, pluginConf, "QSS_MQTT_SERVER="+broker))

	// Record the traffic first, so that each event's Butler message is known.
	recorded := filepath.Join(dir, "traffic.txt")
	replayTraffic(t, bin, "-users", "60", "-directories", "2", "-servers", "3", "-events", "3000", "-seed", "9", "-out", recorded)
	data, err := os.ReadFile(recorded)
	require.NoError(t, err)
	wantEvents := map[string][]string{} // topic -> Butler payloads "<server>: <directory>/<userid>"
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ";", 8) // /qseow-proxy-session/;host;command;directory;userid;...
		require.Len(t, f, 8, line)
		topic, ok := butlerEventTopics[f[2]]
		require.True(t, ok, line)
		wantEvents["qliksense/"+topic] = append(wantEvents["qliksense/"+topic], f[1]+": "+f[3]+"/"+f[4])
	}
	expected := replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort), "-file", recorded, "-rate", "3000")
	require.NotZero(t, expected.ActiveUsers)

	// Count and usernames: byte for byte what Butler sent, with the directory.
	require.Eventually(t, func() bool {
		count := sub.last("qliksense/users/active/count")
		names := sub.last("qliksense/users/active/usernames")
		return count == strconv.Itoa(expected.ActiveUsers) && names == butlerJSON(t, expected.Users)
	}, 30*time.Second, 50*time.Millisecond, "count and usernames never matched the replay's expectation")
	names := sub.last("qliksense/users/active/usernames")
	require.True(t, strings.HasPrefix(names, `["`) && strings.Contains(names, `\\`), "a JSON array of DIR\\user: %s", names)

	// Per server, and a server whose users all left shows 0.
	perServer := map[string]string{}
	for _, srv := range expected.Servers {
		perServer["qliksense/users/activeperserver/"+srv.Server+"/count"] = strconv.Itoa(srv.ActiveUsers)
	}
	require.Eventually(t, func() bool {
		for topic, want := range perServer {
			if got := sub.last(topic); got != want {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "per-server counts never matched %v", perServer)
	for _, topic := range []string{"qliksense/users/active/count", "qliksense/users/active/usernames"} {
		payload := sub.last(topic)
		t.Logf("%s %s", topic, payload)
	}
	for topic := range perServer {
		payload := sub.last(topic)
		t.Logf("%s %s", topic, payload)
	}

	// One message per event, in Butler's "<server>: <directory>/<userid>",
	// in the order the proxies sent them: the four event topics share one
	// output. The plugin spells a known user and server as first seen (the
	// replay varies the case of directories), hence the comparison ignoring
	// case.
	lower := func(payloads []string) []string {
		out := make([]string, len(payloads))
		for i, p := range payloads {
			out[i] = strings.ToLower(p)
		}
		return out
	}
	for topic, want := range wantEvents {
		require.Eventually(t, func() bool { return len(sub.payloads(topic)) >= len(want) },
			10*time.Second, 50*time.Millisecond, "%s: want %d messages, got %d", topic, len(want), len(sub.payloads(topic)))
		require.Equal(t, lower(want), lower(sub.payloads(topic)), topic)
	}
	sent := strings.Split(strings.TrimSpace(string(data)), "\n")
	sentOrder := make([]string, 0, len(sent))
	var gotOrder []string
	for _, line := range sent {
		f := strings.SplitN(line, ";", 8)
		sentOrder = append(sentOrder, strings.ToLower("qliksense/"+butlerEventTopics[f[2]]+" "+f[1]+": "+f[3]+"/"+f[4]))
	}
	for _, m := range sub.all() {
		if _, isEvent := wantEvents[m.topic]; isEvent {
			gotOrder = append(gotOrder, strings.ToLower(m.topic+" "+m.payload))
		}
	}
	require.Equal(t, sentOrder, gotOrder, "events across their four topics in the order they were sent")
	require.Len(t, wantEvents, 4, "the replay sends every kind of event")
	for topic := range wantEvents {
		t.Logf("%s %s (first of %d)", topic, sub.payloads(topic)[0], len(sub.payloads(topic)))
	}

	// Nothing but Butler's topics.
	for _, m := range sub.all() {
		_, isEvent := wantEvents[m.topic]
		isServer := strings.HasPrefix(m.topic, "qliksense/users/activeperserver/") && strings.HasSuffix(m.topic, "/count")
		if isServer {
			if _, known := perServer[m.topic]; !known {
				last := sub.last(m.topic)
				require.Equal(t, "0", last, "%s: a server without users", m.topic)
			}
		}
		require.True(t, isEvent || isServer || m.topic == "qliksense/users/active/count" || m.topic == "qliksense/users/active/usernames",
			"unexpected topic %s", m.topic)
	}

	// A user who logs out disappears from the next usernames message.
	conn := dialPlugin(t, udpPort)
	sendDatagrams(t, conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;leaver;AppAccess;/hub/;Start session for user 'LAB\leaver'`)
	var seen int
	require.Eventually(t, func() bool {
		msgs := sub.all()
		seen = len(msgs)
		for _, m := range msgs {
			if m.topic == "qliksense/users/active/usernames" && strings.Contains(m.payload, `"LAB\\leaver"`) {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the new user never appeared")
	withLeaver := sub.last("qliksense/users/active/usernames")
	require.ElementsMatch(t, append(append([]string(nil), expected.Users...), `LAB\leaver`), parseUsers(t, withLeaver),
		"everyone and the new user")
	sendDatagrams(t, conn, `/qseow-proxy-session/;SENSE1;Stop session;LAB;leaver;AppAccess;/hub/;Stop session for user 'LAB\leaver'`)
	var next string
	require.Eventually(t, func() bool {
		for _, m := range sub.all()[seen:] {
			if m.topic != "qliksense/users/active/usernames" {
				continue
			}
			// Summaries made before the logout may still have been in
			// Telegraf's buffer: they are the same list as before.
			if m.payload == withLeaver {
				continue
			}
			next = m.payload
			return true
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "no usernames message after the logout")
	require.Equal(t, butlerJSON(t, expected.Users), next, "the next usernames message lists everyone but the leaver")
	// The count comes from another output (its own MQTT client): it may
	// arrive a moment before or after the usernames.
	require.Eventually(t, func() bool {
		count := sub.last("qliksense/users/active/count")
		return count == strconv.Itoa(expected.ActiveUsers)
	}, 10*time.Second, 20*time.Millisecond, "the count after the logout")
	stops := sub.payloads("qliksense/session/stop")
	require.Equal(t, "SENSE1: LAB/leaver", stops[len(stops)-1])
}

// parseUsers parses a usernames payload.
func parseUsers(t *testing.T, payload string) []string {
	t.Helper()
	var users []string
	require.NoError(t, json.Unmarshal([]byte(payload), &users), payload)
	return users
}

// TestMQTTTopicPrefix: QSS_MQTT_TOPIC_PREFIX moves every topic, under
// Telegraf's strict environment handling (its default from v1.38 on), and
// the payloads are exactly the documented examples.
func TestMQTTTopicPrefix(t *testing.T) {
	bin, broker, sub := startMQTT(t)
	dir, udpPort := t.TempDir(), freeUDPPort(t)
	const prefix = "site1/qliksense"
	pluginConf := pluginConfig(t, dir, udpPort, "")
	startTelegrafArgs(t, bin, repoFile(t, "examples/telegraf-mqtt-butler.conf"),
		exampleEnv(bin, pluginConf, "QSS_MQTT_SERVER="+broker, "QSS_MQTT_TOPIC_PREFIX="+prefix), "--strict-env-handling")

	sendDatagrams(t, dialPlugin(t, udpPort),
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;Start session for user 'LAB\anna'`,
		`/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/hub/;Open connection for user 'LAB\anna'`,
		`/qseow-proxy-session/;SENSE2;Start session;LAB;maria;AppAccess;/hub/;Start session for user 'LAB\maria'`,
		`/qseow-proxy-session/;SENSE2;Start session;CORP;anna;AppAccess;/hub/;Start session for user 'CORP\anna'`,
		`/qseow-proxy-connection/;SENSE2;Close connection;CORP;anna;AppAccess;/hub/;Close connection for user 'CORP\anna'`,
		`/qseow-proxy-session/;SENSE2;Stop session;CORP;anna;AppAccess;/hub/;Stop session for user 'CORP\anna'`,
	)

	want := map[string]string{
		prefix + "/users/active/count":                 `2`,
		prefix + "/users/active/usernames":             `["LAB\\anna","LAB\\maria"]`,
		prefix + "/users/activeperserver/SENSE1/count": `1`,
		prefix + "/users/activeperserver/SENSE2/count": `1`,
		prefix + "/session/start":                      `SENSE2: CORP/anna`,
		prefix + "/session/stop":                       `SENSE2: CORP/anna`,
		prefix + "/connection/open":                    `SENSE1: LAB/anna`,
		prefix + "/connection/close":                   `SENSE2: CORP/anna`,
	}
	require.Eventually(t, func() bool {
		for topic, payload := range want {
			if got := sub.last(topic); got != payload {
				return false
			}
		}
		return len(sub.payloads(prefix+"/session/start")) == 3
	}, 30*time.Second, 50*time.Millisecond, "the topics below %s never showed %v", prefix, want)
	require.Equal(t, []string{"SENSE1: LAB/anna", "SENSE2: LAB/maria", "SENSE2: CORP/anna"}, sub.payloads(prefix+"/session/start"))
	for _, m := range sub.all() {
		require.True(t, strings.HasPrefix(m.topic, prefix+"/"), "topic %s outside the prefix", m.topic)
		t.Logf("%s %s", m.topic, m.payload)
	}
}

// appTopicsExample writes the shipped MQTT example with its per-app outputs
// enabled (withAppTopics) into dir, and returns its path.
func appTopicsExample(t *testing.T, dir string) string {
	t.Helper()
	return writeVariant(t, repoFile(t, "examples/telegraf-mqtt-butler.conf"), filepath.Join(dir, "telegraf-mqtt-apps.conf"),
		func(shipped string) string { return withAppTopics(t, shipped) })
}

// withAppTopics is the shipped MQTT example with its per-app outputs
// uncommented, as its comment tells users to.
func withAppTopics(t *testing.T, shipped string) string {
	t.Helper()
	lines := strings.Split(shipped, "\n")
	out := make([]string, 0, len(lines))
	blocks, in := 0, false
	for _, line := range lines {
		switch {
		case line == "# [[outputs.mqtt]]":
			in = true
			blocks++
		case in && line == "#":
			in = false
			line = ""
		case in && !strings.HasPrefix(line, "# "):
			in = false
		}
		if in {
			line = strings.TrimPrefix(line, "# ")
		}
		out = append(out, line)
	}
	require.Equal(t, 2, blocks, "the example's commented per-app outputs")
	return strings.Join(out, "\n")
}

// appTopicsMatch tells whether the per-app topics show the expectation: its
// apps' counts and usernames, and 0 and [] for every other app published.
func appTopicsMatch(t *testing.T, sub *subscriber, want replay.Expected) (bool, string) {
	t.Helper()
	apps := map[string]replay.AppExpected{}
	for _, a := range want.Apps {
		apps[a.App] = a
	}
	seen := map[string]bool{}
	for _, m := range sub.all() {
		if rest, ok := strings.CutPrefix(m.topic, "qliksense/apps/"); ok {
			id, _, _ := strings.Cut(rest, "/")
			seen[id] = true
		}
	}
	for id := range apps {
		seen[id] = true
	}
	for id := range seen {
		a, inUse := apps[id]
		count, usernames := "0", "[]"
		if inUse {
			count, usernames = strconv.Itoa(a.ActiveUsers), butlerJSON(t, a.Users)
		}
		gotCount := sub.last("qliksense/apps/" + id + "/users/count")
		gotNames := sub.last("qliksense/apps/" + id + "/users/usernames")
		if gotCount != count || gotNames != usernames {
			return false, fmt.Sprintf("app %s: count %q usernames %s, want %q %s", id, gotCount, gotNames, count, usernames)
		}
	}
	return true, ""
}

// TestMQTTAppTopics runs the MQTT example with its per-app outputs enabled
// on simulated traffic in bursts: after each burst, every app's count and
// usernames topics carry the model's users, and an app whose last user
// left, 0 and []. Only those two topics per app are published, and the
// shipped example publishes none (TestMQTTButlerTopics).
func TestMQTTAppTopics(t *testing.T) {
	bin, broker, sub := startMQTT(t)
	dir, udpPort := t.TempDir(), freeUDPPort(t)
	conf := appTopicsExample(t, dir)
	startTelegrafEnv(t, bin, conf, exampleEnv(bin, pluginConfig(t, dir, udpPort, ""), "QSS_MQTT_SERVER="+broker))

	b := newBursts(t, udpPort, replay.SimConfig{Users: 25, Directories: 2, Servers: 2, Events: 1500, Seed: 29, Format: "sos", Race: 0.05}, 5000)
	checkpoints, emptied := 0, 0
	var before replay.Expected
	for {
		want, more := b.next(t, 300)
		if !more {
			break
		}
		checkpoints++
		var why string
		ok := waitFor(15*time.Second, func() bool {
			var ok bool
			ok, why = appTopicsMatch(t, sub, want)
			return ok
		})
		require.True(t, ok, "checkpoint %d: the per-app topics never showed the model: %s", checkpoints, why)
		for _, a := range before.Apps {
			if !slices.ContainsFunc(want.Apps, func(w replay.AppExpected) bool { return w.App == a.App }) {
				emptied++
			}
		}
		before = want
	}
	require.GreaterOrEqual(t, checkpoints, 4)
	require.NotZero(t, emptied, "an app must lose its last user between two checkpoints")

	appTopic := regexp.MustCompile(`^qliksense/apps/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/users/(count|usernames)$`)
	apps := 0
	for _, m := range sub.all() {
		if strings.HasPrefix(m.topic, "qliksense/apps/") {
			require.Regexp(t, appTopic, m.topic)
			apps++
		}
	}
	t.Logf("%d checkpoints, %d apps emptied between them, %d per-app messages", checkpoints, emptied, apps)
}

// TestMQTTFinalZeroFromAGather: when a gather is the first summary after a
// server's or an app's last user left, it carries the final zero, and the
// next change-driven summary does not repeat it. The example publishes
// gathered final zeros, so the count topics do not keep the last count.
// The example's gathers every 2 s instead of 10 s and summary_interval =
// "5s" make a gather come first every time.
func TestMQTTFinalZeroFromAGather(t *testing.T) {
	bin, broker, sub := startMQTT(t)
	dir, udpPort := t.TempDir(), freeUDPPort(t)
	conf := appTopicsExample(t, dir)
	writeVariant(t, conf, conf, func(s string) string {
		return replaceOnce(t, s, `"-poll_interval", "10s"`, `"-poll_interval", "2s"`)
	})
	pluginConf := pluginConfig(t, dir, udpPort, "")
	writeVariant(t, pluginConf, pluginConf, func(s string) string {
		return replaceOnce(t, s, `summary_interval = "1s"`, `summary_interval = "5s"`)
	})
	startTelegrafEnv(t, bin, conf, exampleEnv(bin, pluginConf, "QSS_MQTT_SERVER="+broker))

	conn := dialPlugin(t, udpPort)
	const app = "0d9f4c2e-5555-4666-8777-999900001111"
	// The connection overtook its Start (log4net's two appenders race): it
	// makes the session, the Start joins it.
	sendDatagrams(t, conn,
		`/qseow-proxy-connection/;SENSE9;Open connection;LAB;zed;AppAccess;/app/`+app+`;connection Opened for session 'z1'`,
		`/qseow-proxy-session/;SENSE9;Start session;LAB;zed;AppAccess;/hub/;Start session for user 'LAB\zed'`,
	)
	topics := map[string]string{
		"qliksense/users/activeperserver/SENSE9/count": "1",
		"qliksense/apps/" + app + "/users/count":       "1",
		"qliksense/apps/" + app + "/users/usernames":   `["LAB\\zed"]`,
	}
	shows := func(want map[string]string) func() bool {
		return func() bool {
			for topic, payload := range want {
				if got := sub.last(topic); got != payload {
					return false
				}
			}
			return true
		}
	}
	if !waitFor(20*time.Second, shows(topics)) {
		t.Fatalf("the login never showed: want %v, got %v", topics, sub.all())
	}

	sendDatagrams(t, conn,
		`/qseow-proxy-connection/;SENSE9;Close connection;LAB;zed;AppAccess;/app/`+app+`;connection Closed for session 'z1'`,
		`/qseow-proxy-session/;SENSE9;Stop session;LAB;zed;AppAccess;/hub/;Stop session for user 'LAB\zed'`,
	)
	zero := map[string]string{}
	for topic := range topics {
		zero[topic] = "0"
	}
	zero["qliksense/apps/"+app+"/users/usernames"] = "[]"
	require.Eventually(t, shows(zero), 20*time.Second, 50*time.Millisecond, "the final zeros never showed: %v", zero)
	// The change-driven summary after the logout: the site count, which
	// only change summaries publish, drops to 0.
	require.Eventually(t, func() bool {
		got := sub.payloads(topicCount)
		login := slices.Index(got, "1")
		return login >= 0 && slices.Contains(got[login+1:], "0")
	}, 20*time.Second, 50*time.Millisecond, "no change summary after the logout")
	// Then a marker on each topic: two other users on the app, in the next
	// change summary. Whatever that summary after the logout published
	// came before it, each topic's messages being in order.
	sendDatagrams(t, conn,
		`/qseow-proxy-connection/;SENSE9;Open connection;LAB;amy;AppAccess;/app/`+app+`;connection Opened for session 'm1'`,
		`/qseow-proxy-connection/;SENSE9;Open connection;LAB;bob;AppAccess;/app/`+app+`;connection Opened for session 'm2'`,
	)
	markers := map[string]string{
		"qliksense/users/activeperserver/SENSE9/count": "2",
		"qliksense/apps/" + app + "/users/count":       "2",
		"qliksense/apps/" + app + "/users/usernames":   `["LAB\\amy","LAB\\bob"]`,
	}
	require.Eventually(t, shows(markers), 20*time.Second, 50*time.Millisecond, "the marker never showed: %v", markers)
	for topic, payload := range zero {
		got := sub.payloads(topic)
		first := slices.Index(got, payload)
		require.Equal(t, topics[topic], got[first-1], "%s: the count, then the final zero: %v", topic, got)
		marker := slices.Index(got, markers[topic])
		for _, p := range got[first:marker] {
			require.Equal(t, payload, p, "%s: nothing but the zero after it: %v", topic, got)
		}
	}
}

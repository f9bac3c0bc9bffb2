//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
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

// last returns the last payload on a topic.
func (s *subscriber) last(topic string) (string, bool) {
	msgs := s.all()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].topic == topic {
			return msgs[i].payload, true
		}
	}
	return "", false
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
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	require.NoError(t, os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\npersistence false\n"+
		// QoS 0 messages beyond 1000 queued for a subscriber are dropped by
		// default; the tests count every message.
		"max_queued_messages 0\n"), 0o600))
	startServer(t, bin, tcpReady(addr), "-c", conf)
	return addr
}

func subscribe(t *testing.T, broker, filter string) *subscriber {
	t.Helper()
	sub := &subscriber{}
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("qss-e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	client := mqtt.NewClient(opts)
	token := client.Connect()
	require.True(t, token.WaitTimeout(10*time.Second))
	require.NoError(t, token.Error())
	token = client.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
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
		users = []string{}
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
	bin := binDir(t)
	broker := startMosquitto(t)
	sub := subscribe(t, broker, "#")

	dir := t.TempDir()
	udpPort := freeUDPPort(t)
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
		count, _ := sub.last("qliksense/users/active/count")
		names, _ := sub.last("qliksense/users/active/usernames")
		return count == strconv.Itoa(expected.ActiveUsers) && names == butlerJSON(t, expected.Users)
	}, 30*time.Second, 50*time.Millisecond, "count and usernames never matched the replay's expectation")
	names, _ := sub.last("qliksense/users/active/usernames")
	require.True(t, strings.HasPrefix(names, `["`) && strings.Contains(names, `\\`), "a JSON array of DIR\\user: %s", names)

	// Per server, and a server whose users all left shows 0.
	perServer := map[string]string{}
	for _, srv := range expected.Servers {
		perServer["qliksense/users/activeperserver/"+srv.Server+"/count"] = strconv.Itoa(srv.ActiveUsers)
	}
	require.Eventually(t, func() bool {
		for topic, want := range perServer {
			if got, _ := sub.last(topic); got != want {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "per-server counts never matched %v", perServer)
	for _, topic := range []string{"qliksense/users/active/count", "qliksense/users/active/usernames"} {
		payload, _ := sub.last(topic)
		t.Logf("%s %s", topic, payload)
	}
	for topic := range perServer {
		payload, _ := sub.last(topic)
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
	var sentOrder, gotOrder []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
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
				last, _ := sub.last(m.topic)
				require.Equal(t, "0", last, "%s: a server without users", m.topic)
			}
		}
		require.True(t, isEvent || isServer || m.topic == "qliksense/users/active/count" || m.topic == "qliksense/users/active/usernames",
			"unexpected topic %s", m.topic)
	}

	// A user who logs out disappears from the next usernames message.
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprint(conn, `/qseow-proxy-session/;SENSE1;Start session;LAB;leaver;AppAccess;/hub/;Start session for user 'LAB\leaver'`)
	require.NoError(t, err)
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
	withLeaver, _ := sub.last("qliksense/users/active/usernames")
	require.ElementsMatch(t, append(append([]string(nil), expected.Users...), `LAB\leaver`), parseUsers(t, withLeaver),
		"everyone and the new user")
	_, err = fmt.Fprint(conn, `/qseow-proxy-session/;SENSE1;Stop session;LAB;leaver;AppAccess;/hub/;Stop session for user 'LAB\leaver'`)
	require.NoError(t, err)
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
		count, _ := sub.last("qliksense/users/active/count")
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
	bin := binDir(t)
	broker := startMosquitto(t)
	sub := subscribe(t, broker, "#")
	const prefix = "site1/qliksense"

	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, "")
	startTelegrafArgs(t, bin, repoFile(t, "examples/telegraf-mqtt-butler.conf"),
		exampleEnv(bin, pluginConf, "QSS_MQTT_SERVER="+broker, "QSS_MQTT_TOPIC_PREFIX="+prefix), "--strict-env-handling")

	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	require.NoError(t, err)
	defer conn.Close()
	for _, payload := range []string{
		`/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;Start session for user 'LAB\anna'`,
		`/qseow-proxy-connection/;SENSE1;Open connection;LAB;anna;AppAccess;/hub/;Open connection for user 'LAB\anna'`,
		`/qseow-proxy-session/;SENSE2;Start session;LAB;maria;AppAccess;/hub/;Start session for user 'LAB\maria'`,
		`/qseow-proxy-session/;SENSE2;Start session;CORP;anna;AppAccess;/hub/;Start session for user 'CORP\anna'`,
		`/qseow-proxy-connection/;SENSE2;Close connection;CORP;anna;AppAccess;/hub/;Close connection for user 'CORP\anna'`,
		`/qseow-proxy-session/;SENSE2;Stop session;CORP;anna;AppAccess;/hub/;Stop session for user 'CORP\anna'`,
	} {
		_, err := fmt.Fprint(conn, payload)
		require.NoError(t, err)
	}

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
			if got, _ := sub.last(topic); got != payload {
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

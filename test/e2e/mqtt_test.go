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

// subscriber records every message below a topic prefix, in order.
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

func (s *subscriber) count(topic string) int {
	n := 0
	for _, m := range s.all() {
		if m.topic == topic {
			n++
		}
	}
	return n
}

func startMosquitto(t *testing.T) string {
	t.Helper()
	bin := serverBinary(t, "mosquitto", "mosquitto")
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	require.NoError(t, os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\npersistence false\n"), 0o600))
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

// butlerJSON renders users as Butler's usernames topic carried them.
func butlerJSON(t *testing.T, users []string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(users))
	return strings.TrimSuffix(buf.String(), "\n")
}

// TestMQTTButlerTopics runs the shipped examples/telegraf-mqtt-butler.conf
// against a real mosquitto and checks every topic a Butler consumer reads.
func TestMQTTButlerTopics(t *testing.T) {
	bin := binDir(t)
	broker := startMosquitto(t)
	const prefix = "e2e/qliksense" // the prefix is configurable; Butler's is "qliksense"
	sub := subscribe(t, broker, prefix+"/#")

	dir := t.TempDir()
	udpPort := freeUDPPort(t)
	pluginConf := pluginConfig(t, dir, udpPort, "")
	startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-mqtt-butler.conf"),
		exampleEnv(bin, pluginConf, "QSS_MQTT_SERVER="+broker, "QSS_MQTT_TOPIC_PREFIX="+prefix))

	// Record the traffic first, so that the events per command are known.
	recorded := filepath.Join(dir, "traffic.txt")
	replayTraffic(t, bin, "-users", "60", "-directories", "2", "-servers", "3", "-events", "3000", "-seed", "9", "-out", recorded)
	data, err := os.ReadFile(recorded)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	commands := map[string]int{}
	for _, line := range lines {
		commands[strings.Split(line, ";")[2]]++
	}
	expected := replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", udpPort), "-file", recorded, "-rate", "3000")
	require.NotZero(t, expected.ActiveUsers)

	topic := func(suffix string) string { return prefix + "/" + suffix }
	require.Eventually(t, func() bool {
		count, _ := sub.last(topic("users/active/count"))
		names, _ := sub.last(topic("users/active/usernames"))
		return count == strconv.Itoa(expected.ActiveUsers) && names == butlerJSON(t, expected.Users)
	}, 30*time.Second, 50*time.Millisecond, "count and usernames never matched the replay's expectation")
	for _, srv := range expected.Servers {
		srv := srv
		require.Eventually(t, func() bool {
			count, _ := sub.last(topic("users/activeperserver/" + srv.Server + "/count"))
			return count == strconv.Itoa(srv.ActiveUsers)
		}, 10*time.Second, 50*time.Millisecond, "per-server count of %s", srv.Server)
	}

	// One message per event, in Butler's "<server>: <directory>/<userid>".
	eventTopics := map[string]string{
		"Start session": "session/start", "Stop session": "session/stop",
		"Open connection": "connection/open", "Close connection": "connection/close",
	}
	for command, suffix := range eventTopics {
		require.NotZero(t, commands[command])
		require.Eventually(t, func() bool { return sub.count(topic(suffix)) == commands[command] },
			10*time.Second, 50*time.Millisecond, "%s: want %d messages, got %d", suffix, commands[command], sub.count(topic(suffix)))
	}
	first := strings.Split(lines[0], ";") // the first event: a Start session
	require.Equal(t, "Start session", first[2])
	for _, m := range sub.all() {
		if m.topic == topic("session/start") {
			require.Equal(t, first[1]+": "+first[3]+"/"+first[4], m.payload)
			break
		}
	}

	// A user who logs out disappears from the next usernames message.
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	require.NoError(t, err)
	defer conn.Close()
	leaver := `LAB\leaver`
	_, err = fmt.Fprintf(conn, "/qseow-proxy-session/;SENSE1;Start session;LAB;leaver;AppAccess;/hub/;Start session for user '%s'", leaver)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		names, _ := sub.last(topic("users/active/usernames"))
		return strings.Contains(names, `"LAB\\leaver"`)
	}, 10*time.Second, 20*time.Millisecond)
	seen := len(sub.all())
	_, err = fmt.Fprintf(conn, "/qseow-proxy-session/;SENSE1;Stop session;LAB;leaver;AppAccess;/hub/;Stop session for user '%s'", leaver)
	require.NoError(t, err)
	var next string
	require.Eventually(t, func() bool {
		for _, m := range sub.all()[seen:] {
			if m.topic == topic("users/active/usernames") {
				next = m.payload
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "no usernames message after the logout")
	require.Equal(t, butlerJSON(t, expected.Users), next, "the next usernames message lists everyone but the leaver")
	// The count comes from another output (its own MQTT client): it may
	// arrive a moment before or after the usernames.
	require.Eventually(t, func() bool {
		count, _ := sub.last(topic("users/active/count"))
		return count == strconv.Itoa(expected.ActiveUsers)
	}, 10*time.Second, 20*time.Millisecond, "the count after the logout")
}

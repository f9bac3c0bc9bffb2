//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

// metricContract is everything the plugin emits (DESIGN.md section 2, the
// README's "Metrics"): per measurement, each tag ("tag") and each field with
// its type ("int", "string"). It is the one list the other tests read: the
// Grafana dashboard may query only these names, the Prometheus series are
// its numeric fields. TestMetricContract holds the real binary to it.
var metricContract = map[string]map[string]string{
	"qliksense_users": summaryContract(),
	"qliksense_users_server": withTags(summaryContract(),
		"server"),
	"qliksense_users_virtual_proxy": withTags(summaryContract(),
		"server", "virtual_proxy"),
	// message only with event_message = true
	"qliksense_session_event": withTags(map[string]string{
		"user": "string", "user_id": "string", "origin": "string", "context": "string", "app_id": "string",
		"message": "string", "active_users": "int", "session_duration_s": "float",
	}, "server", "event", "user_directory"),
	"qliksense_sessions_internal": {
		"datagrams_received": "int", "events_accepted": "int", "events_ignored": "int", "events_excluded": "int",
		"malformed": "int", "rejected_source": "int", "oversize": "int", "datagrams_dropped": "int", "decoded_ansi": "int",
		"starts_matched": "int", "starts_cancelled": "int", "events_refused_max_users": "int", "events_refused_max_servers": "int",
		"stops_without_start": "int", "sessions_inferred": "int", "sessions_expired": "int",
		"proxy_polls": "int", "proxy_poll_errors": "int", "reconcile_sessions_added": "int", "reconcile_sessions_removed": "int",
		"state_save_errors": "int", "tracked_servers": "int", "tracked_users": "int", "tracked_user_server_pairs": "int",
		"tracked_sessions": "int",
	},
}

// eventContract is every value of qliksense_session_event's event tag.
var eventContract = map[string]bool{"session_start": true, "session_stop": true, "connection_open": true, "connection_close": true}

func summaryContract() map[string]string {
	return map[string]string{"active_users": "int", "active_sessions": "int", "users": "string", "trigger": "tag"}
}

func withTags(fields map[string]string, tags ...string) map[string]string {
	for _, tag := range tags {
		fields[tag] = "tag"
	}
	return fields
}

// emitted runs the real binary on the sample day with a proxy block and
// event messages, and returns what it emits in metricContract's shape, and
// every value of the event tag.
func emitted(t *testing.T) (map[string]map[string]string, map[string]bool) {
	t.Helper()
	bin := binDir(t)
	server := qpstest.NewServer(t, map[string]string{"": `[{"UserDirectory":"LAB","UserId":"anna","SessionId":"1"}]`})
	port := freeUDPPort(t)
	conf := pluginConfig(t, t.TempDir(), port, fmt.Sprintf(`  event_message = true
  [[inputs.qliksense_sessions.proxy]]
    url = %q
    server = "SENSE1"
    tls_cert = %q
    tls_key = %q
    tls_ca = %q
`, server.URL, server.ClientCertFile, server.ClientKeyFile, server.CAFile))
	p := startPluginPoll(t, bin, conf, "1s")
	replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", port), "-file", repoFile(t, "testdata/sample-day.txt"))

	names := make(map[string]map[string]string)
	events := make(map[string]bool)
	collect := func() {
		for _, m := range p.snapshot() {
			if names[m.Name()] == nil {
				names[m.Name()] = make(map[string]string)
			}
			for _, f := range m.FieldList() {
				kind := fmt.Sprintf("%T", f.Value)
				switch f.Value.(type) {
				case int64:
					kind = "int"
				case string:
					kind = "string"
				case float64:
					kind = "float"
				}
				names[m.Name()][f.Key] = kind
			}
			for _, tag := range m.TagList() {
				names[m.Name()][tag.Key] = "tag"
			}
			if e, ok := m.GetTag("event"); ok {
				events[e] = true
			}
		}
	}
	// Wait for everything in the contract; what else shows up is reported
	// by the caller's comparison.
	require.Eventually(t, func() bool {
		collect()
		for measurement, fields := range metricContract {
			for name := range fields {
				if _, ok := names[measurement][name]; !ok {
					return false
				}
			}
		}
		return len(events) == len(eventContract)
	}, 30*time.Second, 100*time.Millisecond, "the plugin never emitted every name of the contract: got %v, events %v", names, events)
	collect()
	return names, events
}

// TestMetricContract: the real binary emits exactly metricContract's
// measurements, tags and fields, with its types, and eventContract's events.
func TestMetricContract(t *testing.T) {
	names, events := emitted(t)
	require.Equal(t, metricContract, names)
	require.Equal(t, eventContract, events)
}

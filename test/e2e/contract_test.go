//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

// metricContract is everything the plugin emits (DESIGN.md section 2, the
// README's "Metrics") without butler_summaries: per measurement, each tag
// ("tag") and each field with its type ("int", "float", "string", "bool").
// It is the one list the other tests read: the Grafana dashboard may query
// only these names, the Prometheus series are its numeric fields.
// TestMetricContract holds the real binary to it.
var metricContract = map[string]map[string]string{
	// users_at_limit_truncated only when what users left of users_max_bytes
	// cut the list
	"qliksense_users": withUsage(summaryContract(), "silent_servers"),
	"qliksense_users_server": withTags(withUsage(summaryContract(), "seconds_since_last_event"),
		"server"),
	"qliksense_users_virtual_proxy": withTags(summaryContract(),
		"server", "virtual_proxy"),
	// users_truncated only when users_max_bytes cut the list
	"qliksense_users_app": withTags(map[string]string{
		"active_users": "int", "active_connections": "int", "users": "string", "users_truncated": "bool",
	}, "app_id", "trigger"),
	// message only with event_message = true; session_duration_s only on
	// session_stop, when the session's start was seen
	"qliksense_session_event": withTags(map[string]string{
		"user": "string", "user_id": "string", "origin": "string", "context": "string", "app_id": "string",
		"message": "string", "active_users": "int", "session_duration_s": "float",
	}, "server", "event", "user_directory"),
	"qliksense_sessions_internal": internalContract(),
	// with periods = true (the default): the open hours and days, and the
	// final points of those that ended; app_id points (days) have no
	// sessions
	"qliksense_users_period": withTags(map[string]string{
		"peak_users": "int", "peak_sessions": "int", "peak_at": "string", "distinct_users": "int", "sessions_started": "int", "complete": "bool",
	}, "period", "server", "app_id"),
	"qliksense_users_distinct": withTags(map[string]string{"distinct_users_7d": "int", "distinct_users_30d": "int"}, "server"),
}

// butlerContract is what butler_summaries = true adds to metricContract:
// Butler's counts, and the Butler model's counters and sizes in
// qliksense_sessions_internal.
var butlerContract = map[string]map[string]string{
	"qliksense_users_butler":        withTags(map[string]string{"active_users": "int", "users": "string"}, "trigger"),
	"qliksense_users_server_butler": withTags(map[string]string{"active_users": "int"}, "server", "trigger"),
	"qliksense_sessions_internal": {
		"butler_events_refused_max_users": "int", "butler_events_refused_max_servers": "int", "butler_events_unreadable": "int",
		"tracked_butler_users": "int", "tracked_butler_servers": "int",
	},
}

// blocksContract is what the optional sources add to metricContract: with
// a [inputs.qliksense_sessions.repository] block, the app names and
// streams, the users per stream, and the repository API's counters (the
// licence poll's too, even against a repository without the licence
// endpoints: licenseContract is what those add); with
// [inputs.qliksense_sessions.logfile], the log file source's counters
// (log_open_files is a gauge).
var blocksContract = map[string]map[string]string{
	"qliksense_users_app": {"app_name": "tag", "stream": "tag"},
	"qliksense_users_stream": withTags(map[string]string{"active_users": "int", "users": "string", "users_truncated": "bool"},
		"stream", "stream_id", "trigger"),
	"qliksense_sessions_internal": {
		"app_name_fetches": "int", "app_name_fetch_errors": "int", "tracked_app_names": "int", "app_names_left_out": "int",
		"license_fetches": "int", "license_fetch_errors": "int", "license_age_s": "int",
		"log_rows": "int", "log_rows_malformed": "int", "log_files_read": "int", "log_files_skipped": "int",
		"log_rotations": "int", "log_truncations": "int", "log_read_errors": "int", "log_open_files": "int",
		"udp_events_superseded": "int",
	},
}

// eventContract is every value of qliksense_session_event's event tag.
var eventContract = map[string]bool{"session_start": true, "session_stop": true, "connection_open": true, "connection_close": true}

func summaryContract() map[string]string {
	return map[string]string{"active_users": "int", "active_sessions": "int", "users": "string", "users_truncated": "bool", "trigger": "tag"}
}

// withUsage adds the site's and servers' usage fields (session_limit's,
// the default 5 on, and max_sessions_per_user) and more, ints.
func withUsage(fields map[string]string, more ...string) map[string]string {
	fields["max_sessions_per_user"], fields["users_at_session_limit"] = "int", "int"
	fields["users_at_limit"], fields["users_at_limit_truncated"] = "string", "bool"
	for _, name := range more {
		fields[name] = "int"
	}
	return fields
}

// internalContract is qliksense_sessions_internal's fields: counters since
// the start, and gauges of the state's size (tracked_*).
func internalContract() map[string]string {
	fields := map[string]string{
		"datagrams_received": "int", "events_accepted": "int", "events_ignored": "int", "events_excluded": "int",
		"malformed": "int", "rejected_source": "int", "oversize": "int", "decoded_ansi": "int",
		"starts_matched": "int", "starts_cancelled": "int", "stops_without_start": "int", "sessions_inferred": "int",
		"sessions_expired": "int", "events_refused_max_users": "int", "events_refused_max_servers": "int",
		"api_sessions_refused_max_users": "int", "api_sessions_refused_max_servers": "int",
		"events_refused_max_user_sessions": "int", "events_refused_session_id_length": "int", "metrics_dropped_output_blocked": "int",
		"connections_refused_max_apps": "int", "proxy_polls": "int", "proxy_poll_errors": "int",
		"reconcile_sessions_added": "int", "reconcile_sessions_removed": "int", "state_save_errors": "int",
		"tracked_servers": "int", "tracked_users": "int", "tracked_user_server_pairs": "int", "tracked_sessions": "int",
		"tracked_apps": "int", "period_users_refused_max_users": "int", "tracked_period_users": "int",
	}
	if runtime.GOOS == "linux" {
		fields["datagrams_dropped"] = "int" // the kernel's count, from /proc/net/udp
	}
	return fields
}

// withContract returns contract with more merged in.
func withContract(contract, more map[string]map[string]string) map[string]map[string]string {
	out := make(map[string]map[string]string)
	for _, c := range []map[string]map[string]string{contract, more} {
		for measurement, fields := range c {
			if out[measurement] == nil {
				out[measurement] = make(map[string]string)
			}
			for name, kind := range fields {
				out[measurement][name] = kind
			}
		}
	}
	return out
}

func withTags(fields map[string]string, tags ...string) map[string]string {
	for _, tag := range tags {
		fields[tag] = "tag"
	}
	return fields
}

// emitted runs the real binary on the sample day with a proxy block, event
// messages, users lists cut short (users_max_bytes), every user at the
// session limit (so that users_at_limit is cut too) and extra settings, and
// returns what it emits in the contract's shape, every value of the event
// tag, and the metrics, once everything in want has shown.
func emitted(t *testing.T, extra string, want map[string]map[string]string) (map[string]map[string]string, map[string]bool, []telegraf.Metric) {
	t.Helper()
	bin := binDir(t)
	// Enough users that the virtual proxy's list passes users_max_bytes.
	sessions := make([]string, 0, 8)
	for i := range 8 {
		sessions = append(sessions, fmt.Sprintf(`{"UserDirectory":"LAB","UserId":"user%d","SessionId":"%d"}`, i, i))
	}
	server := qpstest.NewServer(t, map[string]string{"": "[" + strings.Join(sessions, ",") + "]"})
	port := freeUDPPort(t)
	conf := pluginConfig(t, t.TempDir(), port, fmt.Sprintf(`  event_message = true
  users_max_bytes = "64B"
  session_limit = 1
%s
  [[inputs.qliksense_sessions.proxy]]
    server = "SENSE1"
%s`, extra, server.ConfigKeys()))
	p := startPluginPoll(t, bin, conf, "1s")
	replayTraffic(t, bin, "-addr", fmt.Sprintf("127.0.0.1:%d", port), "-file", repoFile(t, "testdata/sample-day.txt"))

	names := make(map[string]map[string]string)
	events := make(map[string]bool)
	var all []telegraf.Metric
	collect := func() {
		all = p.snapshot()
		for _, m := range all {
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
				case bool:
					kind = "bool"
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
		for measurement, fields := range want {
			for name := range fields {
				if _, ok := names[measurement][name]; !ok {
					return false
				}
			}
		}
		return len(events) == len(eventContract)
	}, 30*time.Second, 100*time.Millisecond, "the plugin never emitted every name of the contract: got %v, events %v", names, events)

	// Then one login on a site at rest: its change summary holds the site
	// and the one server, not the others nor the apps (changeOnly), and a
	// summary of either kind follows its event.
	sendDatagrams(t, dialPlugin(t, port),
		"/qseow-proxy-session/;SENSE2;Start session;LAB;contract_marker;AppAccess;/hub/;Start session for user 'LAB\\contract_marker'")
	require.Eventually(t, func() bool {
		var loggedIn time.Time
		for _, m := range p.snapshot() {
			if id, _ := m.GetField("user_id"); id == "contract_marker" {
				loggedIn = m.Time()
			}
			if !loggedIn.IsZero() && m.Name() == "qliksense_users" && m.Time().After(loggedIn) {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "no summary after the last login")
	collect()
	return names, events, all
}

// TestMetricContract: the real binary emits exactly metricContract's
// measurements, tags and fields, with their types, and eventContract's
// events; with butler_summaries, butlerContract's on top. Its summaries keep
// the change-only contract (changeOnly).
func TestMetricContract(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		names, events, all := emitted(t, "", metricContract)
		require.Equal(t, metricContract, names)
		require.Equal(t, eventContract, events)
		omitted := changeOnly(t, all)
		require.NotZero(t, omitted, "no change summary left out an unchanged server, virtual proxy or app")
	})
	t.Run("butler_summaries", func(t *testing.T) {
		want := withContract(metricContract, butlerContract)
		names, events, all := emitted(t, "  butler_summaries = true", want)
		require.Equal(t, want, names)
		require.Equal(t, eventContract, events)
		changeOnly(t, all)
	})
	t.Run("repository and logfile", func(t *testing.T) {
		want := withContract(metricContract, blocksContract)
		names, events, all := emitted(t, blocksConfig(t), want)
		require.Equal(t, want, names)
		require.Equal(t, eventContract, events)
		changeOnly(t, all)
	})
	t.Run("repository with licences", func(t *testing.T) {
		want := withContract(withContract(metricContract, blocksContract), licenseContract)
		for field := range blocksContract["qliksense_sessions_internal"] {
			if strings.HasPrefix(field, "log_") || field == "udp_events_superseded" { // no logfile block here
				delete(want["qliksense_sessions_internal"], field)
			}
		}
		block := licenseRepository(t, qrstest.FullOverview(), sampleDayApps(t)...)
		names, events, all := emitted(t, block, want)
		require.Equal(t, want, names)
		require.Equal(t, eventContract, events)
		changeOnly(t, all)
	})
}

// changeOnly checks the summaries' contract on what a consumer sees, in
// order: a gather's summary (trigger = "interval") holds every server,
// virtual proxy and app in use (whose last line was not a zero); a change
// summary (trigger = "change") holds, besides the site, only lines that
// differ from their series' last line, or from its last line in a change
// summary (an output may take only those), or whose users list (or
// users_at_limit) was cut (which can hide a change), and final zeros. A
// server's line differs by its usage fields too (max_sessions_per_user,
// users_at_session_limit, users_at_limit), not by seconds_since_last_event. It returns how many series in
// use the change summaries left out, all told.
func changeOnly(t *testing.T, metrics []telegraf.Metric) (omitted int) {
	t.Helper()
	type line struct {
		key    string // measurement and the series' own tags (not trigger, nor app_name)
		values string
		zero   bool
		cut    bool
	}
	inUse := make(map[string]string)    // by key, the values of its last line
	onChange := make(map[string]string) // by key, the values of its last line in a change summary
	group := make([]line, 0, len(metrics))
	var (
		open         bool // a group is open
		groupAt      time.Time
		groupTrigger string
	)
	summaries, changes := 0, 0
	closeGroup := func() {
		if !open {
			return
		}
		summaries++
		present := map[string]bool{}
		for _, l := range group {
			present[l.key] = true
			if groupTrigger == "change" {
				last, ok := inUse[l.key]
				lastOnChange, okOnChange := onChange[l.key]
				require.True(t, !ok || last != l.values || !okOnChange || lastOnChange != l.values || l.cut || l.zero,
					"the change summary of %s repeats %s unchanged: %s", groupAt.Format(time.RFC3339Nano), l.key, l.values)
			}
		}
		for key := range inUse {
			if present[key] {
				continue
			}
			require.NotEqual(t, "interval", groupTrigger, "the gather's summary of %s leaves out %s, which is in use", groupAt.Format(time.RFC3339Nano), key)
			omitted++
		}
		if groupTrigger == "change" {
			changes++
		}
		for _, l := range group {
			switch {
			case l.zero:
				delete(inUse, l.key)
				delete(onChange, l.key)
			case groupTrigger == "change":
				onChange[l.key] = l.values
				fallthrough
			default:
				inUse[l.key] = l.values
			}
		}
		group, open = group[:0], false
	}
	for _, m := range metrics {
		if !strings.HasPrefix(m.Name(), "qliksense_users") || strings.HasSuffix(m.Name(), "_butler") ||
			m.Name() == "qliksense_users_period" || m.Name() == "qliksense_users_distinct" { // no summaries: gathers' points of the periods
			continue
		}
		trigger, _ := m.GetTag("trigger")
		if !m.Time().Equal(groupAt) || trigger != groupTrigger {
			closeGroup()
			open, groupAt, groupTrigger = true, m.Time(), trigger
		}
		if m.Name() == "qliksense_users" {
			continue // every summary's first line
		}
		tags := m.Tags()
		key := m.Name() + " " + tags["server"] + " " + tags["virtual_proxy"] + " " + tags["app_id"]
		fields := m.Fields()
		users, sessions, connections := fields["active_users"], fields["active_sessions"], fields["active_connections"]
		cut, _ := fields["users_truncated"].(bool)
		atLimitCut, _ := fields["users_at_limit_truncated"].(bool)
		// A server's usage fields are its values too, but for
		// seconds_since_last_event, a gather-time figure that alone makes
		// no change.
		usage := fmt.Sprint(fields["max_sessions_per_user"], fields["users_at_session_limit"], fields["users_at_limit"])
		group = append(group, line{
			key:    key,
			values: fmt.Sprint(users, sessions, connections, fields["users"], cut, usage, atLimitCut),
			zero:   users == int64(0) && (sessions == nil || sessions == int64(0)) && (connections == nil || connections == int64(0)),
			cut:    cut || atLimitCut,
		})
	}
	closeGroup()
	require.NotZero(t, summaries)
	t.Logf("%d summaries, %d on a change; the change summaries left out %d lines of servers, virtual proxies and apps in use",
		summaries, changes, omitted)
	return omitted
}

// blocksConfig is a repository block that names the sample day's apps, and
// a logfile block that reads a proxy's log files written by the replay tool.
func blocksConfig(t *testing.T) string {
	t.Helper()
	apps := sampleDayApps(t)
	logDir := t.TempDir()
	out, err := exec.Command(filepath.Join(binDir(t), "qliksense_replay"), "-logdir", logDir, "-servers", "1", "-users", "20",
		"-events", "300", "-seed", "3", "-expect", os.DevNull).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return logfileBlock(logDir) + repositoryBlock(t, apps)
}

// sampleDayApps names the apps of the sample day "Sales 1", "Sales 2"...
func sampleDayApps(t *testing.T) []qrstest.App {
	t.Helper()
	data, err := os.ReadFile(repoFile(t, "testdata/sample-day.txt"))
	require.NoError(t, err)
	var apps []qrstest.App
	for _, id := range regexp.MustCompile(`/app/([0-9a-f-]{36})`).FindAllStringSubmatch(string(data), -1) {
		if !slices.ContainsFunc(apps, func(a qrstest.App) bool { return a.ID == id[1] }) {
			apps = append(apps, qrstest.App{ID: id[1], Name: fmt.Sprintf("Sales %d", len(apps)+1)})
		}
	}
	require.NotEmpty(t, apps)
	return apps
}

// repositoryBlock is a repository block for a fake repository API that
// names apps.
func repositoryBlock(t *testing.T, apps []qrstest.App) string {
	t.Helper()
	block, _ := repositoryServer(t, apps)
	return block
}

// repositoryServer is repositoryBlock with its server.
func repositoryServer(t *testing.T, apps []qrstest.App) (string, *qrstest.Server) {
	t.Helper()
	repository := qrstest.NewServer(t, qrstest.Answer(apps...))
	return "  [inputs.qliksense_sessions.repository]\n" + repository.ConfigKeys(), repository
}

// everyOtherAppNamed is a repository that names every other app of the
// simulation with this seed: the names by app id, the repository block
// and its server.
func everyOtherAppNamed(t *testing.T, seed uint64) (map[string]string, string, *qrstest.Server) {
	t.Helper()
	names := map[string]string{}
	var apps []qrstest.App
	for i, id := range simulationApps(t, seed) {
		if i%2 == 0 {
			names[id] = fmt.Sprintf("Sales %d", i)
			apps = append(apps, qrstest.App{ID: id, Name: names[id]})
		}
	}
	block, server := repositoryServer(t, apps)
	return names, block, server
}

// everyOtherAppStreams are the streams of the apps everyOtherAppNamed
// names, by app id: qrstest.Answer publishes every other app it lists to
// "Everyone".
func everyOtherAppStreams(t *testing.T, seed uint64) map[string]string {
	t.Helper()
	streams := map[string]string{}
	for i, id := range simulationApps(t, seed) {
		if i%2 == 0 {
			streams[id] = map[bool]string{false: "(unpublished)", true: "Everyone"}[(i/2)%2 == 1]
		}
	}
	return streams
}

// logfileBlock is a logfile block that reads the live log files in dir.
func logfileBlock(dir string) string {
	return fmt.Sprintf("  [inputs.qliksense_sessions.logfile]\n    files = [%q]\n", filepath.Join(dir, "*_AuditActivity_Proxy.txt"))
}

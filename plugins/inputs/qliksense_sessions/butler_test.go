package qliksense_sessions

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

func TestButlerSummariesOption(t *testing.T) {
	cfg := config.NewConfig()
	require.NoError(t, cfg.LoadConfigData([]byte("[[inputs.qliksense_sessions]]\n  butler_summaries = true\n"), config.EmptySourcePath))
	require.Len(t, cfg.Inputs, 1)
	require.True(t, cfg.Inputs[0].Input.(*QlikSenseSessions).ButlerSummaries)

	cfg = config.NewConfig()
	require.NoError(t, cfg.LoadConfigData([]byte(sampleConfig), config.EmptySourcePath))
	require.False(t, cfg.Inputs[0].Input.(*QlikSenseSessions).ButlerSummaries, "off by default")
}

// describe renders a metric as "name tag=value,... field=value,...", tags
// and fields sorted, without the time.
func describe(m telegraf.Metric) string {
	var b strings.Builder
	b.WriteString(m.Name())
	for _, tag := range m.TagList() {
		b.WriteString(" " + tag.Key + "=" + tag.Value)
	}
	b.WriteString(" |")
	fields := append([]*telegraf.Field(nil), m.FieldList()...)
	sort.Slice(fields, func(i, j int) bool { return fields[i].Key < fields[j].Key })
	for _, f := range fields {
		if m.Name() == "qliksense_session_event" && f.Key != "user" && f.Key != "user_id" || isUsageField(f.Key) { // usage_test.go's
			continue
		}
		b.WriteString(" " + f.Key + "=" + fmt.Sprint(f.Value))
	}
	return b.String()
}

// TestButlerSummaries: with butler_summaries, every start, open and stop is
// followed by Butler's counts, in Butler's order and with Butler's
// miscounts; events keep the names as sent; the plugin's own change
// summaries are off, its gathered ones exact.
func TestButlerSummaries(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.ButlerSummaries = true
	plugin.SummaryInterval = config.Duration(time.Millisecond)
	var acc testutil.Accumulator
	conn := startAndSend(t, plugin, &acc,
		startPayload("SENSE1", "LAB", "anna"),
		startPayload("SENSE2", "CORP", "anna"),
		startPayload("SENSE2", "lab", "maria"),
		`/qseow-proxy-connection/;SENSE2;Close connection;LAB;maria;AppAccess;/hub/;connection Closed for session 'x'`,
		`/qseow-proxy-connection/;SENSE1;Open connection;Lab;Maria;AppAccess;/hub/;connection Opened for session 'y'`,
		`/qseow-proxy-session/;SENSE2;Stop session;CORP;anna;AppAccess;/hub/;Stop session for user 'CORP\anna'`,
		// Windows-1252: the state decodes it, Butler's Node.js did not.
		"/qseow-proxy-session/;SENSE1;Start session;LAB;j\xf6rg;AppAccess;/hub/;Start session for user 'LAB\\j\xf6rg'",
	)
	require.Eventually(t, func() bool { return acc.NMetrics() >= 7+2+3*5 }, 5*time.Second, time.Millisecond,
		"7 events, Butler's counts after 6 of them")
	require.NoError(t, plugin.Gather(&acc))
	// No change summary may follow: one would come before the metrics of a
	// marker sent after the gather (Butler's counts after its event only).
	gathered := int(acc.NMetrics())
	send(t, conn, startPayload("SENSE2", "LAB", "marker"))
	acc.Wait(gathered + 4)

	all := acc.GetTelegrafMetrics()
	got := make([]string, 0, len(all))
	for _, m := range all {
		got = append(got, describe(m))
	}
	require.Equal(t, []string{
		`qliksense_session_event event=session_start server=SENSE1 user_directory=LAB | user=LAB\anna user_id=anna`,
		`qliksense_users_server_butler server=SENSE1 trigger=change | active_users=1`,
		`qliksense_users_butler trigger=change | active_users=1 users=["anna"]`,
		`qliksense_session_event event=session_start server=SENSE2 user_directory=CORP | user=CORP\anna user_id=anna`,
		`qliksense_users_server_butler server=SENSE1 trigger=change | active_users=1`,
		`qliksense_users_server_butler server=SENSE2 trigger=change | active_users=1`,
		`qliksense_users_butler trigger=change | active_users=1 users=["anna"]`,
		// As sent: lab, not a first-seen LAB.
		`qliksense_session_event event=session_start server=SENSE2 user_directory=lab | user=lab\maria user_id=maria`,
		`qliksense_users_server_butler server=SENSE1 trigger=change | active_users=1`,
		`qliksense_users_server_butler server=SENSE2 trigger=change | active_users=2`,
		`qliksense_users_butler trigger=change | active_users=2 users=["anna","maria"]`,
		// Close connection: the event only.
		`qliksense_session_event event=connection_close server=SENSE2 user_directory=LAB | user=LAB\maria user_id=maria`,
		// Ids are case-sensitive for Butler: Maria is another user.
		`qliksense_session_event event=connection_open server=SENSE1 user_directory=Lab | user=Lab\Maria user_id=Maria`,
		`qliksense_users_server_butler server=SENSE1 trigger=change | active_users=2`,
		`qliksense_users_server_butler server=SENSE2 trigger=change | active_users=2`,
		`qliksense_users_butler trigger=change | active_users=3 users=["anna","maria","Maria"]`,
		// CORP\anna's stop ends LAB\anna too.
		`qliksense_session_event event=session_stop server=SENSE2 user_directory=CORP | user=CORP\anna user_id=anna`,
		`qliksense_users_server_butler server=SENSE1 trigger=change | active_users=2`,
		`qliksense_users_server_butler server=SENSE2 trigger=change | active_users=1`,
		`qliksense_users_butler trigger=change | active_users=2 users=["maria","Maria"]`,
		"qliksense_session_event event=session_start server=SENSE1 user_directory=LAB | user=LAB\\j\ufffdrg user_id=j\ufffdrg",
		`qliksense_users_server_butler server=SENSE1 trigger=change | active_users=3`,
		`qliksense_users_server_butler server=SENSE2 trigger=change | active_users=1`,
		"qliksense_users_butler trigger=change | active_users=3 users=[\"maria\",\"Maria\",\"j\ufffdrg\"]",
		// The gather: the exact set (LAB\anna is still on SENSE1).
		`qliksense_users trigger=interval | active_sessions=4 active_users=3 users=["LAB\\anna","LAB\\jörg","lab\\maria"]`,
		`qliksense_users_server server=SENSE1 trigger=interval | active_sessions=3 active_users=3 users=["LAB\\anna","LAB\\jörg","lab\\maria"]`,
		`qliksense_users_server server=SENSE2 trigger=interval | active_sessions=1 active_users=1 users=["lab\\maria"]`,
	}, got[:gathered-1])
	require.Equal(t, []string{
		`qliksense_session_event event=session_start server=SENSE2 user_directory=LAB | user=LAB\marker user_id=marker`,
		`qliksense_users_server_butler server=SENSE1 trigger=change | active_users=3`,
		`qliksense_users_server_butler server=SENSE2 trigger=change | active_users=2`,
		"qliksense_users_butler trigger=change | active_users=4 users=[\"maria\",\"Maria\",\"j\ufffdrg\",\"marker\"]",
	}, got[gathered:], "the marker's metrics, and nothing between the gather and them")

	for _, m := range all[:gathered] {
		if m.Name() == "qliksense_session_event" && m.Tags()["event"] == "session_stop" {
			_, ok := m.GetField("session_duration_s")
			require.True(t, ok, "the state's findings about the event stay: %v", m)
		}
	}

	internal := all[gathered-1]
	require.Equal(t, "qliksense_sessions_internal", internal.Name())
	for field, want := range map[string]int64{
		"tracked_butler_users": 3, "tracked_butler_servers": 2,
		"butler_events_refused_max_users": 0, "butler_events_refused_max_servers": 0, "butler_events_unreadable": 0,
	} {
		v, ok := internal.GetField(field)
		require.True(t, ok, field)
		require.Equal(t, want, v, field)
	}
}

// TestButlerSummariesLimits: max_users and max_servers bound Butler's lists;
// what they refuse is counted, and publishes nothing.
func TestButlerSummariesLimits(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.ButlerSummaries = true
	plugin.EmitEvents = false
	plugin.MaxUsers = 1
	plugin.MaxServers = 1
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc, startPayload("SENSE1", "LAB", "anna"), startPayload("SENSE1", "LAB", "bob"), startPayload("SENSE2", "LAB", "anna"))
	require.Eventually(t, func() bool {
		c, on := plugin.pipeline.ButlerCounters()
		return on && c.UsersRefused == 1 && c.ServersRefused == 1
	}, 5*time.Second, time.Millisecond)
	var butlerMetrics int
	for _, m := range acc.GetTelegrafMetrics() {
		if strings.HasSuffix(m.Name(), "_butler") {
			butlerMetrics++
		}
	}
	require.Equal(t, 2, butlerMetrics, "anna's start on SENSE1 only")
}

// TestButlerSummariesOff: by default no _butler metric, and change
// summaries as before.
func TestButlerSummariesOff(t *testing.T) {
	plugin := newTestPlugin(t)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)
	send(t, conn, startPayload("SENSE1", "LAB", "anna"))
	require.Eventually(t, func() bool { return acc.HasMeasurement("qliksense_users") }, 5*time.Second, time.Millisecond)
	require.False(t, acc.HasMeasurement("qliksense_users_butler"))
	require.False(t, acc.HasMeasurement("qliksense_users_server_butler"))
	_, on := plugin.pipeline.ButlerCounters()
	require.False(t, on)
}

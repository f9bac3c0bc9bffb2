package qliksense_sessions

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

// The apps of the streams' tests: qrstest.Answer publishes every other app
// to the stream Everyone.
const (
	unpublished1 = "10000000-0000-4000-8000-000000000000"
	everyone1    = "10000000-0000-4000-8000-000000000001"
	unpublished2 = "10000000-0000-4000-8000-000000000002"
	everyone2    = "10000000-0000-4000-8000-000000000003"
	everyoneID   = "aaec8d41-5201-43ab-809f-3063750dfafd"
	unknownApp   = "10000000-0000-4000-8000-0000000000ff"
)

func connection(command, user, app string) string {
	word := map[string]string{"Open connection": "Opened", "Close connection": "Closed"}[command]
	return fmt.Sprintf(`/qseow-proxy-connection/;SENSE1;%s;LAB;%s;AppAccess;/app/%s;connection %s for session 'x'`, command, user, app, word)
}

// usersStream is a gathered qliksense_users_stream.
func usersStream(stream, id, users string, active int64) telegraf.Metric {
	tags := map[string]string{"stream": stream, "trigger": "interval"}
	if id != "" {
		tags["stream_id"] = id
	}
	return metric.New("qliksense_users_stream", tags, map[string]interface{}{"active_users": active, "users": users}, time.Unix(0, 0))
}

// startStreamsPlugin starts a plugin (no events, no change summaries of its
// own) whose repository has the streams' tests' four apps, once it knows
// their names.
func startStreamsPlugin(t *testing.T) (*QlikSenseSessions, net.Conn) {
	t.Helper()
	server := qrstest.NewServer(t, qrstest.Answer(
		qrstest.App{ID: unpublished1, Name: "Stock"}, qrstest.App{ID: everyone1, Name: "Sales"},
		qrstest.App{ID: unpublished2, Name: "Draft"}, qrstest.App{ID: everyone2, Name: "HR"},
	))
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.SummaryInterval = 0
	plugin.Repository = repositoryFor(server, time.Hour)
	var acc testutil.Accumulator
	conn := startPlugin(t, plugin, &acc)
	waitForFetch(t, "names", func() bool { return plugin.Repository.apps.Name(everyone2) != "" })
	return plugin, conn
}

// Users per stream: the distinct users with a connection to an app of the
// stream, unpublished apps under "(unpublished)", apps the repository does
// not list in none; qliksense_users_app carries the stream tag; a stream's
// last user leaving brings a final zero.
func TestUsersStream(t *testing.T) {
	plugin, conn := startStreamsPlugin(t)
	send(t, conn, sessionStart("LAB", "anna"), sessionStart("LAB", "bob"), sessionStart("LAB", "maria"), sessionStart("LAB", "zoe"),
		connection("Open connection", "anna", everyone1), connection("Open connection", "anna", everyone2),
		connection("Open connection", "bob", everyone2), connection("Open connection", "maria", unpublished1),
		connection("Open connection", "zoe", unknownApp))
	waitForDatagrams(t, plugin, 9)

	gather := func() *testutil.Accumulator {
		var gathered testutil.Accumulator
		require.NoError(t, plugin.Gather(&gathered))
		return &gathered
	}
	gathered := gather()
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		usersStream("(unpublished)", "", `["LAB\\maria"]`, 1),
		usersStream("Everyone", everyoneID, `["LAB\\anna","LAB\\bob"]`, 2),
	}, named(gathered, "qliksense_users_stream"), testutil.IgnoreTime())
	streams := map[string]string{}
	for _, m := range named(gathered, "qliksense_users_app") {
		stream, _ := m.GetTag("stream")
		streams[m.Tags()["app_id"]] = stream
	}
	require.Equal(t, map[string]string{everyone1: "Everyone", everyone2: "Everyone", unpublished1: "(unpublished)", unknownApp: ""}, streams)

	// anna leaves one app of Everyone: bob and she are still there. Then
	// both leave: Everyone's final zero, then Everyone is gone.
	send(t, conn, connection("Close connection", "anna", everyone1))
	waitForDatagrams(t, plugin, 10)
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		usersStream("(unpublished)", "", `["LAB\\maria"]`, 1),
		usersStream("Everyone", everyoneID, `["LAB\\anna","LAB\\bob"]`, 2),
	}, named(gather(), "qliksense_users_stream"), testutil.IgnoreTime())
	send(t, conn, connection("Close connection", "anna", everyone2), connection("Close connection", "bob", everyone2))
	waitForDatagrams(t, plugin, 12)
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		usersStream("(unpublished)", "", `["LAB\\maria"]`, 1),
		usersStream("Everyone", everyoneID, `[]`, 0),
	}, named(gather(), "qliksense_users_stream"), testutil.IgnoreTime())
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		usersStream("(unpublished)", "", `["LAB\\maria"]`, 1),
	}, named(gather(), "qliksense_users_stream"), testutil.IgnoreTime())
}

// A change summary carries only the apps that changed, yet a stream's line
// counts the users of all its apps; a stream none of whose apps changed
// has no line.
func TestUsersStreamInChangeSummaries(t *testing.T) {
	plugin, conn := startStreamsPlugin(t)
	send(t, conn, sessionStart("LAB", "anna"), sessionStart("LAB", "bob"), sessionStart("LAB", "maria"),
		connection("Open connection", "anna", everyone1), connection("Open connection", "bob", everyone2),
		connection("Open connection", "maria", unpublished1))
	waitForDatagrams(t, plugin, 6)
	change := func() []telegraf.Metric {
		var summary testutil.Accumulator
		plugin.pipeline.EmitSummaries(&summary, metrics.TriggerChange)
		return named(&summary, "qliksense_users_stream")
	}
	changeStream := func(stream, id, users string, active int64) telegraf.Metric {
		m := usersStream(stream, id, users, active)
		m.AddTag("trigger", metrics.TriggerChange)
		return m
	}
	// The first change summary has everything.
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		changeStream("(unpublished)", "", `["LAB\\maria"]`, 1),
		changeStream("Everyone", everyoneID, `["LAB\\anna","LAB\\bob"]`, 2),
	}, change(), testutil.IgnoreTime())

	// zoe joins Sales only: Everyone's line still counts bob, on HR.
	send(t, conn, sessionStart("LAB", "zoe"), connection("Open connection", "zoe", everyone1))
	waitForDatagrams(t, plugin, 8)
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		changeStream("Everyone", everyoneID, `["LAB\\anna","LAB\\bob","LAB\\zoe"]`, 3),
	}, change(), testutil.IgnoreTime())

	// Sales empties: Everyone keeps bob; no final zero while HR has users.
	send(t, conn, connection("Close connection", "anna", everyone1), connection("Close connection", "zoe", everyone1))
	waitForDatagrams(t, plugin, 10)
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		changeStream("Everyone", everyoneID, `["LAB\\bob"]`, 1),
	}, change(), testutil.IgnoreTime())
	require.Empty(t, change(), "nothing changed")
}

// Without a repository block: no stream tag, no qliksense_users_stream.
func TestNoStreamsWithoutRepository(t *testing.T) {
	plugin := newTestPlugin(t)
	var acc testutil.Accumulator
	openApps(t, plugin, &acc)
	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	require.Empty(t, named(&gathered, "qliksense_users_stream", "qliksense_users_license"))
	for _, m := range named(&gathered, "qliksense_users_app") {
		require.False(t, m.HasTag("stream"))
	}
}

package licences

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

func capacity(allocated, used float64) qrs.Counts {
	return qrs.Counts{Enabled: true, AllocatedMinutes: &allocated, UsedMinutes: &used}
}

// The burn rate is the used minutes' rise over the last hour of polls;
// hours_left is the minutes left at that rate.
func TestCapacityBurn(t *testing.T) {
	start := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	var b capacityBurn
	require.Nil(t, b.add(capacity(6000, 1000), start), "one poll has no rate")

	// 5-minute polls, 10 minutes used per poll: 120 an hour.
	var fields map[string]interface{}
	for i := 1; i <= 24; i++ {
		fields = b.add(capacity(6000, 1000+10*float64(i)), start.Add(time.Duration(i)*5*time.Minute))
	}
	require.InDelta(t, 120.0, fields["minutes_per_hour"], 1e-9)
	require.InDelta(t, (6000.0-1240)/120, fields["hours_left"], 1e-9)
	require.LessOrEqual(t, len(b.samples), 14, "only the last hour (and its base) is kept")

	// The rate follows the last hour: a quiet hour brings it to 0, and
	// hours_left goes (no end in sight).
	now := start.Add(2 * time.Hour)
	for i := 1; i <= 12; i++ {
		fields = b.add(capacity(6000, 1240), now.Add(time.Duration(i)*5*time.Minute))
	}
	require.InDelta(t, 0.0, fields["minutes_per_hour"], 1e-9)
	require.NotContains(t, fields, "hours_left")

	// A new month: used_minutes falls, the rate starts over.
	now = now.Add(2 * time.Hour)
	require.Nil(t, b.add(capacity(6000, 12), now))
	fields = b.add(capacity(6000, 42), now.Add(30*time.Minute))
	require.InDelta(t, 60.0, fields["minutes_per_hour"], 1e-9)
	require.InDelta(t, (6000.0-42)/60, fields["hours_left"], 1e-9)

	// Used past the allocation: no hours left.
	fields = b.add(capacity(50, 72), now.Add(60*time.Minute))
	require.InDelta(t, 0.0, fields["hours_left"], 1e-9)

	// Long intervals: the base is the newest poll at least an hour old.
	var long capacityBurn
	long.add(capacity(6000, 0), start)
	fields = long.add(capacity(6000, 300), start.Add(3*time.Hour))
	require.InDelta(t, 100.0, fields["minutes_per_hour"], 1e-9)

	// Capacity off, or used_minutes missing: nothing, and a fresh start.
	require.Nil(t, long.add(qrs.Counts{}, start.Add(4*time.Hour)))
	require.Empty(t, long.samples)
	require.Nil(t, long.add(qrs.Counts{Enabled: true}, start.Add(4*time.Hour)))
}

// Numbers the overview leaves out are left out of the points; an enabled
// type with no number at all makes no point.
func TestOverviewPointsMissingNumbers(t *testing.T) {
	used := 5.0
	points := overviewPoints(&qrs.Overview{
		Professional:     qrs.Counts{Enabled: true, Used: &used},
		Analyzer:         qrs.Counts{Enabled: true},
		AnalyzerCapacity: qrs.Counts{Enabled: true},
	}, map[string]interface{}{"minutes_per_hour": 1.0})
	require.Equal(t, []licensePoint{
		{"analyzer_capacity", map[string]interface{}{"minutes_per_hour": 1.0}},
		{"professional", map[string]interface{}{"used": 5.0}},
	}, points)
}

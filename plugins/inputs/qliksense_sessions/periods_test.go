package qliksense_sessions

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
)

// TestPeriodOptions: periods on by default in the machine's zone, with
// max_users users remembered; period_timezone takes an IANA name; a name
// that is none stops Init with an error naming the key and the fix;
// periods = false turns them off.
func TestPeriodOptions(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.Periods = true
	require.NoError(t, plugin.Init())
	require.NotNil(t, plugin.pipelineConfig.Periods)
	require.Equal(t, time.Local, plugin.pipelineConfig.Periods.Location)
	require.Equal(t, 100_000, plugin.pipelineConfig.Periods.MaxUsers)

	plugin = newTestPlugin(t)
	plugin.Periods, plugin.PeriodTimezone = true, "Europe/Stockholm"
	require.NoError(t, plugin.Init())
	require.Equal(t, "Europe/Stockholm", plugin.pipelineConfig.Periods.Location.String())

	plugin = newTestPlugin(t)
	plugin.Periods, plugin.PeriodTimezone = true, "Europe/Stokholm"
	err := plugin.Init()
	require.ErrorContains(t, err, `period_timezone "Europe/Stokholm" is not a time zone: give an IANA name such as "Europe/Stockholm"`)

	plugin = newTestPlugin(t)
	plugin.Periods = false
	require.NoError(t, plugin.Init())
	require.Nil(t, plugin.pipelineConfig.Periods)
}

// TestPeriodsByDefault: with the registered defaults, a config that says
// nothing of periods gets them, and unknown keys stay errors.
func TestPeriodsByDefault(t *testing.T) {
	cfg := config.NewConfig()
	require.NoError(t, cfg.LoadConfigData([]byte("[[inputs.qliksense_sessions]]\n  period_timezone = \"UTC\"\n"), config.EmptySourcePath))
	plugin := cfg.Inputs[0].Input.(*QlikSenseSessions)
	require.True(t, plugin.Periods)
	require.Equal(t, "UTC", plugin.PeriodTimezone)

	cfg = config.NewConfig()
	err := cfg.LoadConfigData([]byte("[[inputs.qliksense_sessions]]\n  period_time_zone = \"UTC\"\n"), config.EmptySourcePath)
	require.ErrorContains(t, err, "period_time_zone")
}

// TestPeriodsOverUDP: a datagram counts at its arrival; a gather has the
// open hour and day of the site and its server, and the rolling windows.
func TestPeriodsOverUDP(t *testing.T) {
	plugin := newTestPlugin(t)
	plugin.Periods, plugin.PeriodTimezone = true, "UTC"
	var acc testutil.Accumulator
	startAndSend(t, plugin, &acc, `/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m`)
	require.Eventually(t, func() bool { return plugin.pipeline.ActiveUsers() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, plugin.Gather(&acc))
	var periods, distinct int
	for _, m := range acc.GetTelegrafMetrics() {
		switch m.Name() {
		case metrics.Period:
			if complete, _ := m.Fields()["complete"].(bool); complete {
				continue // the gather came just after the hour the datagram came in
			}
			periods++
			require.Equal(t, int64(1), m.Fields()["peak_users"], m)
			require.Equal(t, int64(1), m.Fields()["sessions_started"], m)
			require.Equal(t, false, m.Fields()["complete"], m)
		case metrics.Distinct:
			distinct++
			require.Equal(t, int64(1), m.Fields()["distinct_users_30d"], m)
		}
	}
	require.Equal(t, 4, periods, "hour and day, site and SENSE1")
	require.Equal(t, 2, distinct, "site and SENSE1")
}

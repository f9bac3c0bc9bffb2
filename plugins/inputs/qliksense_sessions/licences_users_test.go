package qliksense_sessions

import (
	"fmt"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

func sessionStart(directory, user string) string {
	return fmt.Sprintf(`/qseow-proxy-session/;SENSE1;Start session;%s;%s;AppAccess;/hub/;Start session for user '%s\%s'`, directory, user, directory, user)
}

func usersLicense(access, users string, active int64, trigger string) telegraf.Metric {
	return metric.New("qliksense_users_license", map[string]string{"access_type": access, "trigger": trigger},
		map[string]interface{}{"active_users": active, "users": users}, time.Unix(0, 0))
}

// The active users by the allocation they hold, matched ignoring case;
// a quarantined allocation is not held; users without one are other.
// They go out with every summary, gathered or on change.
func TestUsersLicense(t *testing.T) {
	server := licenseSite(t)
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.SummaryInterval = 0
	var acc testutil.Accumulator
	conn, polls := startLicensePlugin(t, plugin, server, time.Hour, &acc)
	polls.wait(t, 1)
	send(t, conn, sessionStart("LAB", "ANNA"), sessionStart("LAB", "maria"), sessionStart("corp", "BOB"), sessionStart("LAB", "zoe"))
	waitForDatagrams(t, plugin, 4)

	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	got := named(&gathered, "qliksense_users_license")
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		usersLicense("professional", `["LAB\\ANNA"]`, 1, "interval"),
		usersLicense("analyzer", `["corp\\BOB"]`, 1, "interval"),
		usersLicense("other", `["LAB\\maria","LAB\\zoe"]`, 2, "interval"),
	}, got, testutil.IgnoreTime())
	site := named(&gathered, "qliksense_users")
	require.Len(t, site, 1)
	for _, m := range got {
		require.Equal(t, site[0].Time(), m.Time(), "one moment: the summary's time")
	}
}

// The lists are bounded like every users list; an access type that is off
// counts nobody.
func TestUsersLicenseBounded(t *testing.T) {
	server := licenseSite(t)
	plugin := newTestPlugin(t)
	plugin.EmitEvents = false
	plugin.SummaryInterval = 0
	// One name's worth as line protocol writes it (quotes and backslashes
	// escaped): 18 bytes.
	plugin.UsersMaxBytes = config.Size(18)
	var acc testutil.Accumulator
	conn, polls := startLicensePlugin(t, plugin, server, time.Hour, &acc)
	polls.wait(t, 1)
	send(t, conn, sessionStart("LAB", "maria"), sessionStart("LAB", "zoe"), sessionStart("LAB", "anna"))
	waitForDatagrams(t, plugin, 3)
	var gathered testutil.Accumulator
	require.NoError(t, plugin.Gather(&gathered))
	other := named(&gathered, "qliksense_users_license")[2]
	require.Equal(t, "other", other.Tags()["access_type"])
	require.Equal(t, map[string]interface{}{"active_users": int64(2), "users": `["LAB\\maria"]`, "users_truncated": true}, other.Fields())

	h := newLicenseHolders([2]*allocationList{{users: map[string]struct{}{}}, nil})
	byAccess := h.split([]string{`LAB\anna`})
	require.Equal(t, [3][]string{nil, nil, {`LAB\anna`}}, byAccess)
}

// allocations50000 is a 50,000-user site's professional (the first 5,000)
// and analyzer (the rest, every tenth quarantined) allocation lists.
func allocations50000() (professional, analyzer *qrs.Allocations) {
	professional, analyzer = &qrs.Allocations{}, &qrs.Allocations{}
	for i := range 50_000 {
		a := qrs.Allocation{User: fmt.Sprintf(`CORP\User%05d`, i), LastUsed: "2026-12-01T10:00:00.000Z"}
		if i < 5_000 {
			professional.Entries = append(professional.Entries, a)
			continue
		}
		a.Quarantined = i%10 == 0
		analyzer.Entries = append(analyzer.Entries, a)
	}
	return professional, analyzer
}

// BenchmarkLicenseMatch: the cost of the licence matching at a
// 50,000-user site: indexing the allocation lists (once per licence poll),
// and sorting the active users by access type (once per summary), for
// 1,000 and for all 50,000 users active.
func BenchmarkLicenseMatch(b *testing.B) {
	professional, analyzer := allocations50000()
	b.Run("index 50000 allocations", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newLicenseHolders([2]*allocationList{newAllocationList(professional), newAllocationList(analyzer)})
		}
	})
	h := newLicenseHolders([2]*allocationList{newAllocationList(professional), newAllocationList(analyzer)})
	for _, active := range []int{1_000, 50_000} {
		users := make([]string, active)
		for i := range users {
			users[i] = fmt.Sprintf(`corp\user%05d`, i*(50_000/active))
		}
		b.Run(fmt.Sprintf("split %d active", active), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.split(users)
			}
		})
	}
}

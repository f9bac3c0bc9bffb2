package licences

import (
	"fmt"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// The active users by the allocation they hold, matched ignoring case;
// a quarantined allocation is not held; users without one are other;
// the lists are bounded like every users list.
func TestAddUsersLicense(t *testing.T) {
	server := licenseSite(t)
	var acc testutil.Accumulator
	p, polls := startPoller(t, server, time.Hour, &acc, testutil.Logger{})
	polls.wait(t, 1)
	usersLicense := func(access, users string, active int64) telegraf.Metric {
		return metric.New("qliksense_users_license", map[string]string{"access_type": access, "trigger": "interval"},
			map[string]interface{}{"active_users": active, "users": users}, time.Unix(0, 0))
	}
	var summary testutil.Accumulator
	at := time.Now()
	p.AddUsersLicense(&summary, []string{`LAB\ANNA`, `LAB\maria`, `corp\BOB`, `LAB\zoe`}, "interval", at)
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		usersLicense("professional", `["LAB\\ANNA"]`, 1),
		usersLicense("analyzer", `["corp\\BOB"]`, 1),
		usersLicense("other", `["LAB\\maria","LAB\\zoe"]`, 2),
	}, summary.GetTelegrafMetrics(), testutil.IgnoreTime())
	for _, m := range summary.GetTelegrafMetrics() {
		require.Equal(t, at, m.Time(), "the summary's time")
	}

	// One name's worth as line protocol writes it (quotes and backslashes
	// escaped): 18 bytes.
	p.usersMaxBytes = 18
	var bounded testutil.Accumulator
	p.AddUsersLicense(&bounded, []string{`LAB\maria`, `LAB\zoe`, `LAB\anna`}, "interval", at)
	other := bounded.GetTelegrafMetrics()[2]
	require.Equal(t, "other", other.Tags()["access_type"])
	require.Equal(t, map[string]interface{}{"active_users": int64(2), "users": `["LAB\\maria"]`, "users_truncated": true}, other.Fields())
}

// Before any allocation list is known, nothing goes out; an access type
// whose list is empty counts nobody.
func TestAddUsersLicenseUnknown(t *testing.T) {
	p, err := New(Config{Interval: time.Hour})
	require.NoError(t, err)
	var acc testutil.Accumulator
	p.AddUsersLicense(&acc, []string{`LAB\anna`}, "interval", time.Now())
	require.Empty(t, acc.GetTelegrafMetrics())

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

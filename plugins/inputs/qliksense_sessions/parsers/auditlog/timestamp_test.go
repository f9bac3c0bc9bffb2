package auditlog

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseTimestampMatchesTimeParse checks the hand-written parser against
// time.Parse on time stamps of every month, offset form and fraction length.
func TestParseTimestampMatchesTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		offset := (rng.IntN(2*maxOffsetMinutes+1) - maxOffsetMinutes) * 60
		want := time.Date(rng.IntN(10000), time.Month(1+rng.IntN(12)), 1+rng.IntN(31), rng.IntN(24), rng.IntN(60), rng.IntN(60),
			rng.IntN(1e9), time.FixedZone("", offset))
		digits := rng.IntN(10)
		fraction := ""
		if digits > 0 {
			fraction = "." + strings.Repeat("0", digits)
		}
		zoneLayout := []string{"Z0700", "Z07:00", "-0700", "-07:00"}[rng.IntN(4)]
		s := want.Format("20060102T150405" + fraction + zoneLayout)

		got, ok := parseTimestamp(s)
		require.True(t, ok, "%q", s)
		unit := time.Duration(1)
		for k := digits; k < 9; k++ {
			unit *= 10
		}
		require.True(t, want.Truncate(unit).Equal(got), "%q: want %v, got %v", s, want.Truncate(unit), got)
		_, gotOffset := got.Zone()
		require.Equal(t, offset, gotOffset, "%q", s)

		// time.Parse reads the fraction without being told.
		layout := "20060102T150405Z0700"
		if strings.Contains(zoneLayout, ":") {
			layout = "20060102T150405Z07:00"
		}
		parsed, err := time.Parse(layout, s)
		require.NoError(t, err, s)
		require.True(t, parsed.Equal(got), "%q: time.Parse %v, parseTimestamp %v", s, parsed, got)
		_, parsedOffset := parsed.Zone()
		require.Equal(t, parsedOffset, gotOffset, "%q", s)
	}
}

// TestZoneCache: rows of one offset share one Location; offset 0 is UTC.
func TestZoneCache(t *testing.T) {
	a, ok1 := parseTimestamp("20190228T101010.123+0100")
	b, ok2 := parseTimestamp("20191231T235959.999+01:00")
	require.True(t, ok1 && ok2)
	require.Same(t, a.Location(), b.Location())
	require.Equal(t, "+0100", a.Format("-0700"))
	for _, s := range []string{"20190228T101010Z", "20190228T101010+0000", "20190228T101010-00:00"} {
		u, ok := parseTimestamp(s)
		require.True(t, ok)
		require.Same(t, time.UTC, u.Location(), s)
	}
	for _, offset := range []int{-maxOffsetMinutes, -1, 1, maxOffsetMinutes} {
		_, seconds := time.Now().In(zone(offset)).Zone()
		require.Equal(t, offset*60, seconds)
		z := zone(offset)
		require.Same(t, z, zone(offset))
	}
}

package auditlog

import (
	"sync/atomic"
	"time"
)

// maxOffsetMinutes bounds the zone offsets a time stamp may give: ±23:59.
const maxOffsetMinutes = 23*60 + 59

// zones caches one fixed time.Location per offset in minutes, so that a row
// costs no allocation; offset 0 is time.UTC.
var zones [2*maxOffsetMinutes + 1]atomic.Pointer[time.Location]

func zone(offsetMinutes int) *time.Location {
	if offsetMinutes == 0 {
		return time.UTC
	}
	slot := &zones[offsetMinutes+maxOffsetMinutes]
	if loc := slot.Load(); loc != nil {
		return loc
	}
	slot.CompareAndSwap(nil, time.FixedZone("", offsetMinutes*60))
	return slot.Load()
}

// parseTimestamp reads "YYYYMMDDThhmmss", an optional fraction of 1 to 9
// digits after '.', and a zone: Z, ±hhmm or ±hh:mm (hh at most 23, mm at
// most 59). It checks the ranges that time.Parse checks (month, day in
// month, hour, minute, second), and returns the time in a fixed zone of
// that offset (time.UTC for offset 0).
func parseTimestamp(s string) (time.Time, bool) {
	const base = len("20060102T150405")
	if len(s) < base+1 || s[8] != 'T' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[4:6])
	day, ok3 := digits(s[6:8])
	hour, ok4 := digits(s[9:11])
	minute, ok5 := digits(s[11:13])
	second, ok6 := digits(s[13:15])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	s = s[base:]

	nsec := 0
	if s[0] == '.' {
		i := 1
		for i < len(s) && i <= 9 && isDigit(s[i]) {
			nsec = nsec*10 + int(s[i]-'0')
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		for k := i; k <= 9; k++ {
			nsec *= 10
		}
		s = s[i:]
	}

	var offset int
	switch {
	case s == "Z":
	case len(s) == 5 || len(s) == 6 && s[3] == ':':
		if s[0] != '+' && s[0] != '-' {
			return time.Time{}, false
		}
		hh, ok1 := digits(s[1:3])
		mm, ok2 := digits(s[len(s)-2:])
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = hh*60 + mm
		if s[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, nsec, zone(offset)), true
}

// digits reads a short run of decimal digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

package qliksense_sessions

import (
	"fmt"
	"time"

	"github.com/influxdata/telegraf/config"
)

// Every duration key has a range: below its minimum a timer would burn CPU
// (state_save_interval = "1ns" saved without pause) or an API be asked
// without pause; above its maximum a setting is a slip ("100000h").

// durationMinimums are the smallest durations accepted, other than zero
// where zero turns something off.
type durationMinimums struct {
	summaryInterval, stateSaveInterval, sessionMaxAge, apiInterval, apiTimeout time.Duration
}

// adminMinimums are the minimums of the configuration; minimums are those
// Init applies (the package's tests lower them, to run the timers fast).
var (
	adminMinimums = durationMinimums{
		summaryInterval:   100 * time.Millisecond,
		stateSaveInterval: time.Second,
		sessionMaxAge:     time.Minute,
		apiInterval:       time.Second,
		apiTimeout:        100 * time.Millisecond,
	}
	minimums = adminMinimums
)

// The largest durations accepted.
const (
	maxSummaryInterval   = time.Hour
	maxStateSaveInterval = 24 * time.Hour
	maxSessionMaxAge     = 30 * 24 * time.Hour
	maxReorderWindow     = time.Minute
	maxAPIInterval       = 24 * time.Hour
	maxAPITimeout        = time.Hour
)

// checkDuration checks that d is from lo to hi, or zero where zeroMeans
// says what zero does ("" if zero is out of range too), with an error that
// names the key.
func checkDuration(key string, d config.Duration, lo, hi time.Duration, zeroMeans string) error {
	v := time.Duration(d)
	if v == 0 && zeroMeans != "" || v >= lo && v <= hi {
		return nil
	}
	zero := ""
	if zeroMeans != "" {
		zero = `, or "0s" ` + zeroMeans
	}
	return fmt.Errorf("%s %s is out of range: give a duration from %q to %q%s", key, v, durationText(lo), durationText(hi), zero)
}

// checkDurations checks the plugin's own duration keys (checkValues has
// refused negative ones).
func (q *QlikSenseSessions) checkDurations() error {
	for _, c := range []struct {
		key       string
		d         config.Duration
		lo, hi    time.Duration
		zeroMeans string
	}{
		{"summary_interval", q.SummaryInterval, minimums.summaryInterval, maxSummaryInterval, "for summaries on gathers only"},
		{"state_save_interval", q.StateSaveInterval, minimums.stateSaveInterval, maxStateSaveInterval, ""},
		{"session_max_age", q.SessionMaxAge, minimums.sessionMaxAge, maxSessionMaxAge, "to never expire sessions"},
		{"reorder_window", q.ReorderWindow, 0, maxReorderWindow, ""},
	} {
		if err := checkDuration(c.key, c.d, c.lo, c.hi, c.zeroMeans); err != nil {
			return err
		}
	}
	return nil
}

// checkAPITimings checks a Qlik API block's interval and timeout, with
// their defaults filled in.
func checkAPITimings(name, url string, interval, timeout config.Duration) error {
	if err := checkDuration("interval", interval, minimums.apiInterval, maxAPIInterval, ""); err != nil {
		return fmt.Errorf("%s (%s): %w", name, url, err)
	}
	if err := checkDuration("timeout", timeout, minimums.apiTimeout, maxAPITimeout, ""); err != nil {
		return fmt.Errorf("%s (%s): %w", name, url, err)
	}
	return nil
}

// durationText writes a duration as a config would: "100ms", "1s", "24h".
func durationText(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d >= u.unit && d%u.unit == 0 {
			return fmt.Sprintf("%d%s", d/u.unit, u.name)
		}
	}
	return d.String()
}

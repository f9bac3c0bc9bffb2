// Package licences is the licence poll of a repository block (issue 20):
// every license_interval, in its own goroutine, the access type overview
// (qlik_sense_license, as Butler writes it, butler.go, with the capacity
// burn, burn.go), the server licence (qlik_sense_server_license) and the
// professional and analyzer allocation lists, which the summaries match
// against the active users (qliksense_users_license, users.go).
package licences

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// DefaultInterval is license_interval's default.
const DefaultInterval = 5 * time.Minute

// The parts of a poll; a part whose endpoint answers 404 is off until the
// next start.
const (
	partOverview = iota
	partServer
	partProfessional
	partAnalyzer
	partCount
)

var partNames = [partCount]struct{ path, what string }{
	partOverview:     {qrs.OverviewPath, "qlik_sense_license is off"},
	partServer:       {qrs.LicensePath, "qlik_sense_server_license is off"},
	partProfessional: {qrs.ProfessionalPath, "qliksense_users_license counts nobody as professional"},
	partAnalyzer:     {qrs.AnalyzerPath, "qliksense_users_license counts nobody as analyzer"},
}

// Config is the licence poll's configuration; New checks it.
type Config struct {
	Client *qrs.LicenseClient
	// URL is the repository's, for the log lines.
	URL      string
	Interval time.Duration
	// MaxEntries bounds each allocation list (max_users).
	MaxEntries int
	// UsersMaxBytes bounds the users lists of qliksense_users_license.
	UsersMaxBytes int
}

// Poller is the licence poll. Its goroutine alone writes off, burn and
// lists; the others are read by gathers and summaries.
type Poller struct {
	client        *qrs.LicenseClient
	url           string
	interval      time.Duration
	maxEntries    int
	usersMaxBytes int

	off   [partCount]bool
	burn  capacityBurn
	lists [2]*allocationList // professional, analyzer: their last good answers

	fetches, fetchErrors atomic.Uint64
	lastGood             atomic.Int64 // unix nanoseconds of the last poll every part answered; 0: none yet
	holders              atomic.Pointer[licenseHolders]
	now                  func() time.Time
	// fetched, when set (by tests), is called after each poll ends.
	fetched func()

	log      telegraf.Logger
	throttle *throttle.Log
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New checks the configuration (an error names the key at fault) and
// returns the poll, not started.
func New(cfg Config) (*Poller, error) {
	if cfg.Interval < time.Second {
		return nil, fmt.Errorf("license_interval %s is under \"1s\": use a duration such as \"5m\" (the default), "+
			"or \"0s\" to ask for no licences; the repository counts the licences, it need not be asked more often", cfg.Interval)
	}
	return &Poller{
		client: cfg.Client, url: cfg.URL, interval: cfg.Interval, maxEntries: cfg.MaxEntries, usersMaxBytes: cfg.UsersMaxBytes, now: time.Now,
	}, nil
}

// Start polls the licences in the background, at once and then every
// license_interval, until Stop. Nothing waits for it.
func (l *Poller) Start(acc telegraf.Accumulator, log telegraf.Logger) {
	l.log = log
	l.throttle = throttle.NewLog(log, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Go(func() { qlikapi.Every(ctx, l.interval, func(ctx context.Context) { l.poll(ctx, acc) }) })
}

// Stop ends a poll under way and waits for the goroutine.
func (l *Poller) Stop() {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
}

// poll asks each part once and emits what came. Each request has the
// block's timeout (the client's), so a long allocation list does not eat
// into the others' time.
func (l *Poller) poll(ctx context.Context, acc telegraf.Accumulator) {
	if l.fetched != nil {
		defer l.fetched()
	}
	now := l.now()
	good := true
	failed := func(part int, err error) {
		if errors.Is(err, context.Canceled) {
			good = false
			return // stopping
		}
		l.fetchErrors.Add(1)
		if qrs.IsNotThere(err) {
			l.off[part] = true
			l.log.Warn(fmt.Sprintf("Licences: the repository at %s has no %s, so %s until the next start: %v",
				l.url, partNames[part].path, partNames[part].what, err))
			return
		}
		good = false
		l.throttle.Warnf("licenses", "Licences: the repository API failed, keeping its last answer: %v", err)
	}

	var overview *qrs.Overview
	if !l.off[partOverview] {
		o, err := l.client.Overview(ctx)
		if err != nil {
			failed(partOverview, err)
		} else {
			l.fetches.Add(1)
			overview = o
			for _, p := range overviewPoints(o, l.burn.add(o.AnalyzerCapacity, now)) {
				acc.AddFields(metrics.License, p.fields, map[string]string{"license_type": p.licenseType}, now)
			}
		}
	}
	if !l.off[partServer] {
		s, err := l.client.ServerLicense(ctx)
		if err != nil {
			failed(partServer, err)
		} else {
			l.fetches.Add(1)
			acc.AddFields(metrics.ServerLicense, serverLicenseFields(s, now), nil, now)
		}
	}
	changed := false
	for i, part := range [2]int{partProfessional, partAnalyzer} {
		if l.off[part] {
			continue
		}
		if overview != nil && ![2]bool{overview.Professional.Enabled, overview.Analyzer.Enabled}[i] {
			// The access type is off: nobody holds one, and there is no
			// list to ask for.
			if l.lists[i] == nil || len(l.lists[i].users) > 0 {
				l.lists[i], changed = &allocationList{}, true
			}
			continue
		}
		a, err := l.client.Allocations(ctx, partNames[part].path, l.maxEntries)
		if err != nil {
			failed(part, err)
			continue
		}
		l.fetches.Add(1)
		l.lists[i], changed = newAllocationList(a), true
		if a.OverLimit > 0 {
			l.throttle.Warnf("licenses_over_limit", "Licences: %s listed %d allocations, %d past max_users (%d) left out",
				partNames[part].path, a.Listed, a.OverLimit, l.maxEntries)
		}
	}
	if changed {
		l.holders.Store(newLicenseHolders(l.lists))
	}
	if good {
		if l.lastGood.Swap(now.UnixNano()) == 0 {
			l.log.Infof("Licences: the repository at %s answered every licence endpoint it has, %s", l.url, l.summary(overview))
		}
	}
}

// summary says what the first good poll found, for its log line.
func (l *Poller) summary(o *qrs.Overview) string {
	held := func(i int) string {
		if l.lists[i] == nil {
			return "unknown"
		}
		return strconv.Itoa(len(l.lists[i].users))
	}
	types := "no overview"
	if o != nil {
		types = fmt.Sprintf("%d access types enabled", len(overviewPoints(o, nil)))
	}
	return fmt.Sprintf("%s; professional allocations held: %s, analyzer: %s", types, held(0), held(1))
}

// InternalFields adds the licence poll's counters to
// qliksense_sessions_internal.
func (l *Poller) InternalFields(fields map[string]interface{}) {
	fields["license_fetches"] = int64(l.fetches.Load())
	fields["license_fetch_errors"] = int64(l.fetchErrors.Load())
	if last := l.lastGood.Load(); last != 0 {
		fields["license_age_s"] = int64(l.now().Sub(time.Unix(0, last)) / time.Second)
	}
}

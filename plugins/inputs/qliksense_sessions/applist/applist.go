// Package applist is the repository's app list: fetched every interval in
// its own goroutine, it names the apps of qliksense_users_app (app_name)
// and gives each app's stream (the stream tag, and qliksense_users_stream,
// streams.go). Names are optional: while the API fails, the metrics go out
// without them. Lookups never wait for a fetch.
package applist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// Config is the app list's configuration, checked by the repository
// block's Init.
type Config struct {
	Client *qrs.Client
	// URL is the repository's, for the log lines.
	URL               string
	Interval, Timeout time.Duration
	// UsersMaxBytes bounds the users lists of qliksense_users_stream.
	UsersMaxBytes int
}

// List is the repository's app list, as its last good answer had it.
type List struct {
	cfg Config

	// names maps lower-case app ids to names. A fetch replaces the whole
	// map, which is never written after: readers load it without a lock.
	names       atomic.Pointer[map[string]string]
	fetches     atomic.Uint64 // successful fetches
	fetchErrors atomic.Uint64
	leftOut     atomic.Int64 // apps of the last answer without a name

	// streams are the apps' streams by lower-case app id, stored as names
	// is (streams.go).
	streams atomic.Pointer[map[string]qrs.Stream]
	// appUsers is each app's users in its last summary, for the streams
	// (AddUsersStream, under the pipeline's emitMu).
	appUsers map[string][]string

	log      telegraf.Logger
	throttle *throttle.Log
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New returns the app list, not fetched yet.
func New(cfg Config) *List {
	return &List{cfg: cfg}
}

// Start fetches the app list in the background, at once and then every
// interval, until Stop. Nothing waits for it.
func (l *List) Start(log telegraf.Logger) {
	l.log = log
	l.throttle = throttle.NewLog(log, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Go(func() { qlikapi.Every(ctx, l.cfg.Interval, l.fetch) })
}

// Stop ends a fetch under way and waits for the goroutine.
func (l *List) Stop() {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
}

// fetch asks the repository for the app list once. A failure logs one
// line (throttled) and keeps the names there were.
func (l *List) fetch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	answer, err := l.cfg.Client.Apps(ctx)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // stopping
		}
		l.fetchErrors.Add(1)
		kept := "app_name left out until it answers"
		if names := l.names.Load(); names != nil {
			kept = fmt.Sprintf("keeping the %d names of its last answer", len(*names))
		}
		l.throttle.Warnf("app_names", "App names: the repository API failed, %s: %v", kept, err)
		return
	}
	first := l.names.Load() == nil
	// The names go out last, so that whoever sees them sees the counters
	// and the log lines of the answer that brought them.
	defer l.names.Store(&answer.Names)
	defer l.streams.Store(&answer.Streams)
	l.leftOut.Store(int64(answer.LeftOut()))
	l.fetches.Add(1)

	if first {
		l.log.Infof("App names: %d of %d apps named by the repository API at %s", len(answer.Names), answer.Apps, l.cfg.URL)
	} else {
		l.log.Debugf("App names: %d of %d apps named by the repository API at %s", len(answer.Names), answer.Apps, l.cfg.URL)
	}
	if answer.LeftOut() > 0 || answer.Truncated > 0 {
		var parts []string
		if answer.Refused > 0 {
			example := ""
			if answer.RefusedExample != "" {
				example = ", e.g. app " + answer.RefusedExample
			}
			parts = append(parts, fmt.Sprintf("%d names refused (control characters or an app id that is not a GUID%s)", answer.Refused, example))
		}
		if answer.Unnamed > 0 {
			parts = append(parts, fmt.Sprintf("%d apps without a name", answer.Unnamed))
		}
		if answer.OverLimit > 0 {
			parts = append(parts, fmt.Sprintf("%d apps past the limit of %d names", answer.OverLimit, qrs.MaxApps))
		}
		if answer.Truncated > 0 {
			parts = append(parts, fmt.Sprintf("%d names cut to %d bytes", answer.Truncated, qrs.MaxNameBytes))
		}
		l.throttle.Warnf("app_names_left_out", "App names: of %d apps, %s", answer.Apps, strings.Join(parts, ", "))
	}
}

// Name is the name of the app with the id, or "" when the list does not
// have it. It never waits: a fetch under way does not hold it up.
func (l *List) Name(id string) string {
	names := l.names.Load()
	if names == nil {
		return ""
	}
	return (*names)[strings.ToLower(id)]
}

// InternalFields adds the app name counters to
// qliksense_sessions_internal.
func (l *List) InternalFields(fields map[string]interface{}) {
	tracked := 0
	if names := l.names.Load(); names != nil {
		tracked = len(*names)
	}
	fields["app_name_fetches"] = int64(l.fetches.Load())
	fields["app_name_fetch_errors"] = int64(l.fetchErrors.Load())
	fields["tracked_app_names"] = int64(tracked)
	fields["app_names_left_out"] = l.leftOut.Load()
}

package qliksense_sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	common_tls "github.com/influxdata/telegraf/plugins/common/tls"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/licences"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// Repository is the [inputs.qliksense_sessions.repository] block: the
// repository API (QRS) that names the apps of qliksense_users_app. Names are
// optional: without the block, or while the API fails, the metrics go out
// without app_name.
type Repository struct {
	URL        string          `toml:"url"`
	Interval   config.Duration `toml:"interval"`
	Timeout    config.Duration `toml:"timeout"`
	UserHeader string          `toml:"user_header"`
	// LicenseInterval is how often the licences are asked (package licences).
	LicenseInterval config.Duration `toml:"license_interval"`
	common_tls.ClientConfig

	licences   *licences.Poller // the licence poll
	noLicenses bool             // tests of the app names alone: no licence poll

	client *qrs.Client
	// names maps lower-case app ids to names. A fetch replaces the whole
	// map, which is never written after: readers load it without a lock.
	names       atomic.Pointer[map[string]string]
	fetches     atomic.Uint64 // successful fetches
	fetchErrors atomic.Uint64
	leftOut     atomic.Int64 // apps of the last answer without a name
	// fetched, when set (by tests), is called after each fetch ends.
	fetched func()

	// streams are the apps' streams by lower-case app id, stored as names
	// is (streams.go).
	streams atomic.Pointer[map[string]qrs.Stream]
	// appUsers is each app's users in its last summary, for the streams
	// (addUsersStream, under the pipeline's emitMu).
	appUsers map[string][]string
}

var repositoryDefaults = apiDefaults{interval: 10 * time.Minute, timeout: 30 * time.Second, examples: `"10m" and "30s"`}

// init validates the repository block and fills in its defaults.
func (r *Repository) init() error {
	const name = "repository"
	if r.URL == "" {
		return fmt.Errorf("%s: url is empty: set it to the repository API of the central node, e.g. url = \"https://sense-central.example.com:4242\", "+
			"or remove the [inputs.qliksense_sessions.repository] block to go without app names", name)
	}
	if _, err := qrs.ParseURL(r.URL); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := apiTimings(name, r.URL, &r.Interval, &r.Timeout, repositoryDefaults); err != nil {
		return err
	}
	if r.UserHeader != "" {
		lower := strings.ToLower(r.UserHeader)
		if strings.IndexFunc(r.UserHeader, unicode.IsControl) >= 0 || !strings.Contains(lower, "userdirectory=") || !strings.Contains(lower, "userid=") {
			return fmt.Errorf("%s (%s): user_header %q is not \"UserDirectory=<directory>; UserId=<user>\" on one line: "+
				"use e.g. %q, or remove it for that default", name, r.URL, r.UserHeader, qrs.DefaultUserHeader)
		}
	}
	if r.TLSCert == "" || r.TLSKey == "" {
		return fmt.Errorf("%s (%s): tls_cert and tls_key must be set: "+
			"the repository API on port 4242 answers only callers with the client certificate exported from the QMC: "+
			"set tls_cert, tls_key and tls_ca to its client.pem, client_key.pem and root.pem", name, r.URL)
	}
	var err error
	r.client, err = newAPIClient(name, r.URL, &r.ClientConfig, r.Timeout, r.UserHeader, qrs.NewClient)
	return err
}

func (q *QlikSenseSessions) initRepository() error {
	if q.Repository == nil {
		return nil
	}
	if err := q.Repository.init(); err != nil {
		return err
	}
	return q.Repository.initLicences(q.MaxUsers, int(q.UsersMaxBytes))
}

// initLicences fills in license_interval's default and makes the licence
// poll, whose New checks its settings.
func (r *Repository) initLicences(maxEntries, usersMaxBytes int) error {
	if r.noLicenses {
		return nil
	}
	if r.LicenseInterval == 0 {
		r.LicenseInterval = config.Duration(licences.DefaultInterval)
	}
	client, err := newAPIClient("repository", r.URL, &r.ClientConfig, r.Timeout, r.UserHeader, qrs.NewLicenseClient)
	if err != nil {
		return err
	}
	r.licences, err = licences.New(licences.Config{
		Client: client, URL: r.URL, Interval: time.Duration(r.LicenseInterval), MaxEntries: maxEntries, UsersMaxBytes: usersMaxBytes,
	})
	if err != nil {
		return fmt.Errorf("repository (%s): %w", r.URL, err)
	}
	return nil
}

// startRepository fetches the app names and polls the licences in the
// background, at once and then every interval, until Stop. Nothing waits
// for them.
func (q *QlikSenseSessions) startRepository(acc telegraf.Accumulator) {
	r := q.Repository
	if r == nil {
		return
	}
	q.wg.Go(func() { q.refreshAppNames(r) })
	if r.licences != nil {
		r.licences.Start(acc, q.Log)
	}
}

// stopLicences ends the licence poll and waits for it.
func (q *QlikSenseSessions) stopLicences() {
	if q.Repository != nil && q.Repository.licences != nil {
		q.Repository.licences.Stop()
	}
}

func (q *QlikSenseSessions) refreshAppNames(r *Repository) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q.cancelOnStop(ctx, cancel) // Stop ends a fetch under way
	q.every(r.Interval, func() { q.fetchAppNames(ctx, r) })
}

// fetchAppNames asks the repository for the app names once. A failure
// logs one line (throttled) and keeps the names there were.
func (q *QlikSenseSessions) fetchAppNames(ctx context.Context, r *Repository) {
	if r.fetched != nil {
		defer r.fetched()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.Timeout))
	defer cancel()
	answer, err := r.client.Apps(ctx)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // stopping
		}
		r.fetchErrors.Add(1)
		kept := "app_name left out until it answers"
		if names := r.names.Load(); names != nil {
			kept = fmt.Sprintf("keeping the %d names of its last answer", len(*names))
		}
		q.throttle.Warnf("app_names", "App names: the repository API failed, %s: %v", kept, err)
		return
	}
	first := r.names.Load() == nil
	// The names go out last, so that whoever sees them sees the counters
	// and the log lines of the answer that brought them.
	defer r.names.Store(&answer.Names)
	defer r.streams.Store(&answer.Streams)
	r.leftOut.Store(int64(answer.LeftOut()))
	r.fetches.Add(1)

	if first {
		q.Log.Infof("App names: %d of %d apps named by the repository API at %s", len(answer.Names), answer.Apps, r.URL)
	} else {
		q.Log.Debugf("App names: %d of %d apps named by the repository API at %s", len(answer.Names), answer.Apps, r.URL)
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
		q.throttle.Warnf("app_names_left_out", "App names: of %d apps, %s", answer.Apps, strings.Join(parts, ", "))
	}
}

// appName is the name of the app with the id, or "" when the plugin does
// not know it. It never waits: a fetch under way does not hold it up.
func (q *QlikSenseSessions) appName(id string) string {
	if q.Repository == nil {
		return ""
	}
	names := q.Repository.names.Load()
	if names == nil {
		return ""
	}
	return (*names)[strings.ToLower(id)]
}

// appNamesInternal adds the app name counters to qliksense_sessions_internal,
// with a repository block.
func (q *QlikSenseSessions) appNamesInternal(fields map[string]interface{}) {
	r := q.Repository
	if r == nil {
		return
	}
	tracked := 0
	if names := r.names.Load(); names != nil {
		tracked = len(*names)
	}
	fields["app_name_fetches"] = int64(r.fetches.Load())
	fields["app_name_fetch_errors"] = int64(r.fetchErrors.Load())
	fields["tracked_app_names"] = int64(tracked)
	fields["app_names_left_out"] = r.leftOut.Load()
	if r.licences != nil {
		r.licences.InternalFields(fields)
	}
}

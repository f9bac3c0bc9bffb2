package qliksense_sessions

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	common_tls "github.com/influxdata/telegraf/plugins/common/tls"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/applist"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/licences"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// Repository is the [inputs.qliksense_sessions.repository] block: the
// repository API (QRS), whose app list (package applist) names the apps of
// qliksense_users_app and gives their streams, and whose licences package
// licences polls. Names are optional: without the block, or while the API
// fails, the metrics go out without app_name.
type Repository struct {
	URL        string          `toml:"url"`
	Interval   config.Duration `toml:"interval"`
	Timeout    config.Duration `toml:"timeout"`
	UserHeader string          `toml:"user_header"`
	// LicenseInterval is how often the licences are asked (package
	// licences); unset: every 5 minutes, "0s": never. A pointer, as an
	// unset key and "0s" differ here.
	LicenseInterval *config.Duration `toml:"license_interval"`
	common_tls.ClientConfig

	licences   *licences.Poller // the licence poll
	noLicenses bool             // tests of the app names alone: no licence poll

	apps *applist.List // the app list: names and streams
}

var repositoryDefaults = apiDefaults{interval: 10 * time.Minute, timeout: 30 * time.Second, examples: `"10m" and "30s"`}

// init validates the repository block, fills in its defaults and makes
// the app list, whose users lists are cut to usersMaxBytes.
func (r *Repository) init(usersMaxBytes int) error {
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
	client, err := newAPIClient(name, r.URL, &r.ClientConfig, r.Timeout, r.UserHeader, qrs.NewClient)
	if err != nil {
		return err
	}
	r.apps = applist.New(applist.Config{Client: client, URL: r.URL, Interval: time.Duration(r.Interval), Timeout: time.Duration(r.Timeout),
		UsersMaxBytes: usersMaxBytes})
	return nil
}

func (q *QlikSenseSessions) initRepository() error {
	if q.Repository == nil {
		return nil
	}
	if err := q.Repository.init(int(q.UsersMaxBytes)); err != nil {
		return err
	}
	return q.Repository.initLicences(q.MaxUsers, int(q.UsersMaxBytes))
}

// initLicences fills in license_interval's default and makes the licence
// poll, whose New checks its settings; "0s" makes none.
func (r *Repository) initLicences(maxEntries, usersMaxBytes int) error {
	if r.LicenseInterval == nil {
		interval := config.Duration(licences.DefaultInterval)
		r.LicenseInterval = &interval
	}
	if r.noLicenses || *r.LicenseInterval == 0 {
		return nil
	}
	client, err := newAPIClient("repository", r.URL, &r.ClientConfig, r.Timeout, r.UserHeader, qrs.NewLicenseClient)
	if err != nil {
		return err
	}
	r.licences, err = licences.New(licences.Config{
		Client: client, URL: r.URL, Interval: time.Duration(*r.LicenseInterval), MaxEntries: maxEntries, UsersMaxBytes: usersMaxBytes,
	})
	if err != nil {
		return fmt.Errorf("repository (%s): %w", r.URL, err)
	}
	return nil
}

// startRepository fetches the app list and polls the licences in the
// background, at once and then every interval, until Stop. Nothing waits
// for them.
func (q *QlikSenseSessions) startRepository(acc telegraf.Accumulator) {
	r := q.Repository
	if r == nil {
		return
	}
	r.apps.Start(q.Log)
	if r.licences != nil {
		r.licences.Start(acc, q.Log)
	}
}

// stopRepository ends the app list's fetches and the licence poll and
// waits for them.
func (q *QlikSenseSessions) stopRepository() {
	r := q.Repository
	if r == nil {
		return
	}
	r.apps.Stop()
	if r.licences != nil {
		r.licences.Stop()
	}
}

// repositoryInternal adds the app list's and the licence poll's counters
// to qliksense_sessions_internal, with a repository block.
func (q *QlikSenseSessions) repositoryInternal(fields map[string]interface{}) {
	r := q.Repository
	if r == nil {
		return
	}
	r.apps.InternalFields(fields)
	if r.licences != nil {
		r.licences.InternalFields(fields)
	}
}

// summarised adds, after each summary, the active users by licence and by
// stream, with a repository block. The pipeline calls it under its emitMu;
// the licence poll's holders are read without a lock.
func (q *QlikSenseSessions) summarised(acc telegraf.Accumulator, s *metrics.Summaries, trigger string) {
	r := q.Repository
	if r.licences != nil {
		r.licences.AddUsersLicense(acc, s.Site.Users, trigger, s.At)
	}
	r.apps.AddUsersStream(acc, s, trigger)
}

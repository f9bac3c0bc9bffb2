package metrics

import (
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/periods"
)

// The usage periods' measurements.
const (
	Period   = "qliksense_users_period"
	Distinct = "qliksense_users_distinct"
)

// PeriodMetric is one period of the site, a server or an app, stamped with
// the period's start, so that a time series database keeps one value per
// period: the last, which for an ended period is its final one (complete).
// App points have no sessions.
func PeriodMetric(p *periods.Point) telegraf.Metric {
	tags := map[string]string{"period": p.Kind.String()}
	fields := map[string]interface{}{
		"peak_users":     int64(p.PeakUsers),
		"peak_at":        p.PeakAt.UTC().Format(time.RFC3339),
		"distinct_users": int64(p.Distinct),
		"complete":       p.Complete,
	}
	if p.App != "" {
		tags["app_id"] = p.App
	} else {
		fields["peak_sessions"] = int64(p.PeakSessions)
		fields["sessions_started"] = int64(p.Started)
		if p.Server != "" {
			tags["server"] = p.Server
		}
	}
	return metric.New(Period, tags, fields, p.Start)
}

// DistinctMetric is the distinct users of the last 7 and 30 days of the
// site or a server, at at.
func DistinctMetric(r *periods.Rolling, at time.Time) telegraf.Metric {
	var tags map[string]string
	if r.Server != "" {
		tags = map[string]string{"server": r.Server}
	}
	return metric.New(Distinct, tags, map[string]interface{}{
		"distinct_users_7d":  int64(r.Distinct7),
		"distinct_users_30d": int64(r.Distinct30),
	}, at)
}

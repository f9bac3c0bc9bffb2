package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/procstat"
)

// Phases of the run.
const (
	phaseTraffic = iota
	phaseLogout
	phaseSettle
	phaseBurst // -hostile: a burst past max_apps and max_users
)

var phaseNames = [...]string{"traffic", "logout", "settle", "burst"}

// sample is one second of the run.
type sample struct {
	at       time.Duration
	phase    int
	sent     int64
	users    int64 // tracked_users of the last qliksense_sessions_internal
	sessions int64 // tracked_sessions
	rssKiB   float64
	cpuTicks int64
}

func samplesOf(samples []sample, phase int) []sample {
	var out []sample
	for _, s := range samples {
		if s.phase == phase {
			out = append(out, s)
		}
	}
	return out
}

// window is the samples of the traffic with sent events in [from, to) of
// events.
func window(samples []sample, events int, from, to float64) []sample {
	var out []sample
	for _, s := range samples {
		if s.phase == phaseTraffic && float64(s.sent) >= from*float64(events) && float64(s.sent) < to*float64(events) {
			out = append(out, s)
		}
	}
	return out
}

type stats struct{ maxRSS, users, sessions float64 }

func statsOf(samples []sample) stats {
	var st stats
	for _, s := range samples {
		st.maxRSS = max(st.maxRSS, s.rssKiB)
		st.users += float64(s.users)
		st.sessions += float64(s.sessions)
	}
	if n := float64(len(samples)); n > 0 {
		st.users /= n
		st.sessions /= n
	}
	return st
}

// memoryVerdict compares RSS at the end of the traffic and after the
// logout with the plateau of the traffic's second quarter.
func memoryVerdict(samples []sample, events int, margin float64) (bool, string) {
	plateau := statsOf(window(samples, events, 0.25, 0.5))
	end := statsOf(window(samples, events, 0.75, 1.01))
	last := samples[len(samples)-1]
	var b strings.Builder
	if plateau.maxRSS == 0 || end.maxRSS == 0 {
		fmt.Fprintf(&b, "FAIL memory: too few samples (%d) to find a plateau: send more -events\n", len(samples))
		return false, b.String()
	}
	limit := plateau.maxRSS * (1 + margin)
	endOK, lastOK := end.maxRSS <= limit, last.rssKiB <= limit
	fmt.Fprintf(&b,
		"%s memory, traffic: plateau %.1f MiB (highest RSS while events %d%%-%d%% went out; %.0f users, %.0f sessions active on average);"+
			" at the end %.1f MiB (events 75%%-100%%; %.0f users, %.0f sessions): %+.1f%%, limit +%.0f%%\n",
		verdict(endOK), plateau.maxRSS/1024, 25, 50, plateau.users, plateau.sessions, end.maxRSS/1024, end.users, end.sessions,
		(end.maxRSS/plateau.maxRSS-1)*100, margin*100)
	fmt.Fprintf(&b,
		"%s memory, after the logout: %.1f MiB with %d users, %d sessions active, %.0f s after the last event: %+.1f%% of the plateau, limit +%.0f%%\n",
		verdict(lastOK), last.rssKiB/1024, last.users, last.sessions, (last.at - lastTraffic(samples)).Seconds(), (last.rssKiB/plateau.maxRSS-1)*100,
		margin*100)
	if slope, n := trend(window(samples, events, 0.25, 1.01)); n >= 10 {
		fmt.Fprintf(&b, "     trend over the level part of the traffic (%d samples): %+.2f MiB per million events\n", n, slope/1024*1e6)
	}
	users, sessions := end.users/max(plateau.users, 1)-1, end.sessions/max(plateau.sessions, 1)-1
	if math.Abs(users) > 0.1 || math.Abs(sessions) > 0.1 {
		fmt.Fprintf(&b,
			"     note: the active set grew between the two windows (users %+.0f%%, sessions %+.0f%%);"+
				" the comparison assumes it level: more -events, or a higher -churn, level it\n", users*100, sessions*100)
	}
	return endOK && lastOK, b.String()
}

// trend is the least-squares slope of RSS (KiB) over events sent.
func trend(samples []sample) (slope float64, n int) {
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x, y := float64(s.sent), s.rssKiB
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n = len(samples)
	den := float64(n)*sxx - sx*sx
	if n < 2 || den == 0 {
		return 0, n
	}
	return (float64(n)*sxy - sx*sy) / den, n
}

func lastTraffic(samples []sample) time.Duration {
	var at time.Duration
	for _, s := range samples {
		if s.phase != phaseSettle {
			at = s.at
		}
	}
	return at
}

// table prints about 16 of the samples: evenly spaced, and each phase's
// first and last.
func table(samples []sample) string {
	var b strings.Builder
	b.WriteString("| t (s) | phase | events sent | events/s | active users | sessions | RSS (MiB) |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|\n")
	step := max(1, len(samples)/14)
	var prev sample
	for i, s := range samples {
		boundary := i == 0 || i == len(samples)-1 || s.phase != samples[i-1].phase || i+1 < len(samples) && samples[i+1].phase != s.phase
		if i%step != 0 && !boundary {
			continue
		}
		rate := "–"
		if i > 0 && s.at > prev.at && s.sent >= prev.sent { // -hostile counts anew from the traffic's start
			rate = fmt.Sprintf("%.0f", float64(s.sent-prev.sent)/(s.at-prev.at).Seconds())
		}
		rssText := "n/a"
		if procstat.Available {
			rssText = fmt.Sprintf("%.1f", s.rssKiB/1024)
		}
		fmt.Fprintf(&b, "| %.0f | %s | %d | %s | %d | %d | %s |\n", s.at.Seconds(), phaseNames[s.phase], s.sent, rate, s.users, s.sessions, rssText)
		prev = s
	}
	return b.String()
}

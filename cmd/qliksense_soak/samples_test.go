package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// level makes the samples of a traffic of events at 10 per sample, RSS
// from rssAt.
func level(events int, rssAt func(sent int) float64) []sample {
	var out []sample
	for sent := 0; sent <= events; sent += 10 {
		out = append(out, sample{at: time.Duration(sent) * time.Second, sent: int64(sent), users: 100, sessions: 200, rssKiB: rssAt(sent)})
	}
	return append(out, sample{at: time.Duration(events+100) * time.Second, phase: phaseSettle, sent: int64(events), users: 10, sessions: 20, rssKiB: rssAt(0)})
}

func TestMemoryVerdict(t *testing.T) {
	flat := level(1000, func(sent int) float64 { return 40 << 10 * (1 + 0.02*float64(sent%30)/30) })
	ok, text := memoryVerdict(flat, 1000, 0.1)
	require.True(t, ok, text)
	slope, n := trend(window(flat, 1000, 0.25, 1.01))
	require.Greater(t, n, 10)
	require.InDelta(t, 0, slope, 1)

	growing := level(1000, func(sent int) float64 { return 40<<10 + float64(sent)*30 }) // 30 KiB per event
	ok, text = memoryVerdict(growing, 1000, 0.1)
	require.False(t, ok, text)
	require.Contains(t, text, "FAIL memory, traffic")
	slope, _ = trend(window(growing, 1000, 0.25, 1.01))
	require.InDelta(t, 30, slope, 0.01)
}

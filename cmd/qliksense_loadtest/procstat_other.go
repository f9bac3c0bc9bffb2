//go:build !linux

package main

// procStats says that CPU time and peak RSS are not measured here: they come
// from /proc (see procstat_linux.go), and the table shows "n/a".
const procStats = false

const clockTicks = 100.0

func treeCPUTicks(int) (int64, error) { return 0, nil }

func treePeakRSS(int) float64 { return 0 }

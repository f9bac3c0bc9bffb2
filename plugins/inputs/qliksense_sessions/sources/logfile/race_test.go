//go:build race

package logfile

// raceEnabled: the race detector makes timing tests meaningless and slows
// big ones.
const raceEnabled = true

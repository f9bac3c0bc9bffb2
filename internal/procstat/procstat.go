// Package procstat reads a process's resident set and CPU time, for the
// soak and load test tools. They come from Linux's /proc; elsewhere
// Available is false and every reading is 0.
package procstat

// ClockTicks is USER_HZ, the unit of CPU times, which Linux fixes at 100
// for /proc.
const ClockTicks = 100.0

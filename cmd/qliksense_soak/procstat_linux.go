package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStats says that RSS and CPU time are measured here.
const procStats = true

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc.
const clockTicks = 100.0

// rss is the process's resident set now, in KiB (VmRSS).
func rss(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if v, ok := strings.CutPrefix(scanner.Text(), "VmRSS:"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kib
		}
	}
	return 0
}

// cpuTicks is the process's user+system time in clock ticks.
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which may hold spaces: ") state ppid ..."
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var total int64
	for _, i := range []int{11, 12} { // utime stime (fields 14 and 15)
		v, _ := strconv.ParseInt(fields[i], 10, 64)
		total += v
	}
	return total
}

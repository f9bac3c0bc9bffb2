package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStats says that CPU time and peak RSS are measured here.
const procStats = true

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc.
const clockTicks = 100.0

// cpuTicks is the user+system time of a process and its waited-for children,
// in clock ticks.
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: ") state ppid ..."
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	fields := strings.Fields(rest)
	var total int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14-17)
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// peakRSS is the process's peak resident set in KiB (VmHWM).
func peakRSS(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if v, ok := strings.CutPrefix(scanner.Text(), "VmHWM:"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kib
		}
	}
	return 0
}

// tree lists a process and its descendants (Telegraf runs the plugin as a
// child, and both count).
func tree(pid int) []int {
	pids := []int{pid}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			if child, err := strconv.Atoi(field); err == nil {
				pids = append(pids, tree(child)...)
			}
		}
	}
	return pids
}

func treeCPUTicks(pid int) (int64, error) {
	var total int64
	for _, p := range tree(pid) {
		ticks, err := cpuTicks(p)
		if err != nil {
			return 0, err
		}
		total += ticks
	}
	return total, nil
}

func treePeakRSS(pid int) float64 {
	total := 0.0
	for _, p := range tree(pid) {
		total += peakRSS(p)
	}
	return total
}

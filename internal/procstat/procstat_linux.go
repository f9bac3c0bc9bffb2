package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Available says that RSS and CPU time are measured here.
const Available = true

// RSS is the process's resident set now, in KiB (VmRSS); 0 if unknown.
func RSS(pid int) float64 { return statusKiB(pid, "VmRSS:") }

// PeakRSS is the process's peak resident set, in KiB (VmHWM); 0 if
// unknown.
func PeakRSS(pid int) float64 { return statusKiB(pid, "VmHWM:") }

// statusKiB is a field of /proc/<pid>/status given in kB.
func statusKiB(pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if v, ok := strings.CutPrefix(scanner.Text(), field); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0
			}
			return kib
		}
	}
	return 0
}

// CPUTicks is the process's user+system time, in clock ticks.
func CPUTicks(pid int) (int64, error) {
	return statTicks(pid, 11, 12) // utime stime (fields 14 and 15)
}

// TreeCPUTicks is the user+system time of a process, its descendants and
// the children they waited for, in clock ticks (Telegraf runs the plugin
// as a child, and both count).
func TreeCPUTicks(pid int) (int64, error) {
	var total int64
	for _, p := range tree(pid) {
		ticks, err := statTicks(p, 11, 12, 13, 14) // utime stime cutime cstime (fields 14-17)
		if err != nil {
			return 0, err
		}
		total += ticks
	}
	return total, nil
}

// TreePeakRSS is the sum of the peak resident sets of a process and its
// descendants, in KiB.
func TreePeakRSS(pid int) float64 {
	total := 0.0
	for _, p := range tree(pid) {
		total += PeakRSS(p)
	}
	return total
}

// statTicks sums fields of /proc/<pid>/stat, counted after the command
// name (0 is the state).
func statTicks(pid int, fields ...int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: ") state ppid ..."
	end := bytes.LastIndexByte(data, ')')
	if end < 0 || end+2 > len(data) {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	rest := strings.Fields(string(data[end+2:]))
	var total int64
	for _, i := range fields {
		if i >= len(rest) {
			return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(rest))
		}
		v, err := strconv.ParseInt(rest[i], 10, 64)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// tree lists a process and its descendants.
func tree(pid int) []int {
	pids := []int{pid}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)) //nolint:errcheck // entries read before an error are still tasks; a process gone has none
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

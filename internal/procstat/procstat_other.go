//go:build !linux

package procstat

// Available says that RSS and CPU time are not measured here: they come
// from Linux's /proc (see procstat_linux.go).
const Available = false

func RSS(int) float64 { return 0 }

func PeakRSS(int) float64 { return 0 }

func CPUTicks(int) (int64, error) { return 0, nil }

func TreeCPUTicks(int) (int64, error) { return 0, nil }

func TreePeakRSS(int) float64 { return 0 }

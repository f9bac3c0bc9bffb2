package procstat

import (
	"os"
	"testing"
)

// The test's own process has a resident set, a peak at least as large,
// and is in its own tree.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	rss, peak := RSS(pid), PeakRSS(pid)
	if rss <= 0 || peak < rss {
		t.Fatalf("RSS %v KiB, peak %v KiB", rss, peak)
	}
	if TreePeakRSS(pid) < peak {
		t.Fatalf("tree peak %v KiB below the process's %v", TreePeakRSS(pid), peak)
	}
	self, err := CPUTicks(pid)
	if err != nil || self < 0 {
		t.Fatal(self, err)
	}
	all, err := TreeCPUTicks(pid)
	if err != nil || all < self {
		t.Fatal(all, self, err)
	}
	if _, err := CPUTicks(-1); err == nil {
		t.Fatal("no error for a process that is not")
	}
}

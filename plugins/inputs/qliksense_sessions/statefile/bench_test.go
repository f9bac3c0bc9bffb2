package statefile

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// BenchmarkLoad reads a file of 100,000 records (a large site: 20,000 users
// on five servers).
func BenchmarkLoad(b *testing.B) {
	path := filepath.Join(b.TempDir(), "state.json")
	at := time.Date(2026, 11, 24, 7, 55, 0, 0, time.UTC)
	records := make([]state.Record, 100_000)
	for i := range records {
		records[i] = state.Record{Server: "SENSE" + strconv.Itoa(i%5), Directory: "LAB", UserID: "user" + strconv.Itoa(i),
			Sessions: 1 + i%3, FirstSeen: at, LastSeen: at}
	}
	if err := Save(path, records, at); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		f, err := Load(path)
		if err != nil || len(f.Sessions) != len(records) {
			b.Fatal(err)
		}
	}
}

package statefile

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/periods"
)

// The usage periods are a section of their own, with its own version
// (periods.SavedVersion), added to version 1 of the file: an older build
// ignores it and restores the sessions; a section this build cannot read
// costs the periods, not the sessions. What lies in the future or beyond
// the 30 days is for periods.Tracker.Restore to skip.

// readPeriods decodes the periods section, if there is one.
func (f *File) readPeriods(raw json.RawMessage) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return
	}
	var saved periods.Saved
	if err := json.Unmarshal(raw, &saved); err != nil {
		f.PeriodsUnreadable = fmt.Sprintf("its periods section is corrupt (%v)", err)
		return
	}
	f.Periods = &saved
}

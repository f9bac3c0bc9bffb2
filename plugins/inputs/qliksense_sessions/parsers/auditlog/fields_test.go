package auditlog

import (
	"testing"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// The log files refuse the names every other source refuses: checkField's
// fast check of a row's fields agrees with event.HasControl, the check of
// datagrams, the state file and the session API (issue 21).
func TestCheckFieldAgreesWithHasControl(t *testing.T) {
	for r := rune(0); r < 0x3000; r++ {
		for _, field := range []string{string(r), "LAB" + string(r) + "anna", "abcdefgh" + string(r) + "ijklmnop"} {
			if got, want := checkField(field) == ReasonControl, event.HasControl(field); got != want {
				t.Errorf("checkField(%q) refuses it: %v, event.HasControl: %v", field, got, want)
			}
		}
	}
}

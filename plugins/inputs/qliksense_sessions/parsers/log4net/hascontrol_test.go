package log4net

import (
	"strings"
	"testing"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// A message may span lines, and nothing else differs: messageHasControl is
// event.HasControl letting CR, LF and tabs pass (issue 21).
func TestMessageHasControlIsHasControlOverLines(t *testing.T) {
	for r := rune(0); r < 0x3000; r++ {
		message := "Open connection " + string(r) + " for session 'x'"
		want := event.HasControl(strings.NewReplacer("\r", "", "\n", "", "\t", "").Replace(message))
		if got := messageHasControl(message); got != want {
			t.Errorf("messageHasControl(%q) = %v, want %v", message, got, want)
		}
	}
}

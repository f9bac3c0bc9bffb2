package log4net

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// The Parser reads a payload that is not UTF-8 as Windows-1252, says so,
// and with ButlerFields gives the names' bytes as Butler split them.
func TestParserANSI(t *testing.T) {
	payload := []byte("/proxy-session/;SENSE1;Start session;LAB;j\xf6rg;AppAccess;/hub/;Start session for user 'LAB\\j\xf6rg'")
	p := &Parser{ButlerFields: true}
	var out event.Parsed
	p.Parse(payload, &out)
	require.Equal(t, event.Accepted, out.Status)
	require.True(t, out.ANSI)
	require.Equal(t, "jörg", out.Event.UserID)
	require.Equal(t, [3][]byte{[]byte("SENSE1"), []byte("LAB"), []byte("j\xf6rg")}, out.ButlerFields)

	legacy := []byte("SENSE1;Start session;LAB;j\xf6rg\r\n")
	p.Parse(legacy, &out)
	require.Equal(t, event.Accepted, out.Status)
	require.Equal(t, [3][]byte{[]byte("SENSE1"), []byte("LAB"), []byte("j\xf6rg")}, out.ButlerFields)

	// UTF-8 payloads need no Butler view: Butler read them as Event has them.
	p.Parse([]byte("SENSE1;Start session;LAB;anna"), &out)
	require.False(t, out.ANSI)
	require.Equal(t, [3][]byte{}, out.ButlerFields)

	// Not Windows-1252 either (0x81 has no character): malformed.
	p.Parse([]byte("SENSE1;Start session;LAB;\x81"), &out)
	require.Equal(t, event.Malformed, out.Status)
	require.Equal(t, ReasonNotUTF8, out.Reason)
	require.False(t, out.ANSI)
}

// With Retain the event outlives the payload's buffer.
func TestParserRetain(t *testing.T) {
	payload := []byte("/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;m")
	var out event.Parsed
	(&Parser{Retain: true}).Parse(payload, &out)
	require.True(t, out.Owned)
	for i := range payload {
		payload[i] = 'x'
	}
	require.Equal(t, "anna", out.Event.UserID)
	require.Equal(t, "SENSE1", out.Event.Server)
}

package replay

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Commands, markers, column names and Description's keys match in any
// ASCII case, and only so: ſ (U+017F), which Unicode folds to s, does not
// make an s (nor K, U+212A, a k).
func TestNamesFoldASCIICaseOnly(t *testing.T) {
	for payload, want := range map[string]Status{
		"SENSE1;START SESSION;LAB;anna":                                 Accepted,
		"SENSE1;Start \u017Fession;LAB;anna":                            Ignored,
		"SENSE1;Clo\u017Fe connection;LAB;anna":                         Ignored,
		"/QSEOW-PROXY-SESSION/;SENSE1;stop SESSION;LAB;anna;x;/hub/;m":  Accepted,
		"/qseow-proxy-\u017Fession/;SENSE1;Stop session;LAB;anna;x;/;m": Malformed,
		"/proxy-\u017Fession/;SENSE1;Stop session;LAB;anna;x;/;m":       Malformed,
	} {
		_, status := ReadPayload([]byte(payload))
		require.Equal(t, want, status, payload)
	}
	ev, status := ReadPayload([]byte("SENSE1;stop session;LAB;anna"))
	require.Equal(t, Accepted, status)
	require.Equal(t, StopSession, ev.Command)

	_, err := parseLogHeader([]byte("TIMESTAMP\thostname\tProxySessionID\tUserDirectory\tUSERID\tcommand"))
	require.NoError(t, err)
	_, err = parseLogHeader([]byte("Timestamp\tHostname\tProxySessionId\tUserDirectory\tU\u017FerId\tCommand"))
	require.ErrorContains(t, err, "missing column(s) UserId")
	_, err = parseLogHeader([]byte("Timestamp\tHostname\tProxySessionId\tUserDirectory\tUserId\tDe\u017Fcription"))
	require.ErrorContains(t, err, "Command or Description")
	require.True(t, isLogHeader([]byte("timestamp\tHOSTNAME")))
	require.False(t, isLogHeader([]byte("Time\u017Ftamp\tHostname")))
	command, result := readDescription("COMMAND=Start session;Re\u017Fult=403;ResultText=Error")
	require.Equal(t, "Start session", command)
	require.Empty(t, result)
	command, result = readDescription("command=Start session;result=0;Re\u017FultText=x;Result=1")
	require.Equal(t, "Start session", command)
	require.Equal(t, "1", result, "no ResultText ends it")
}

package auditlog

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseHeader(t *testing.T) {
	const documented = "Sequence#\tProductVersion\tTimestamp\tHostname\tId\tDescription\tProxySessionId\tProxyPackageId\tRequestSequenceId\t" +
		"UserDirectory\tUserId\tObjectId\tObjectName\tService\tOrigin\tContext\tCommand\tResult\tMessage\tId2"
	good := []struct{ name, line string }{
		{"documented columns", documented},
		{"BOM and CR LF", "\ufeff" + documented + "\r\n"},
		{"LF", documented + "\n"},
		{"names in other cases, padded", "TIMESTAMP\t hostname \tproxysessionid\tUSERDIRECTORY\tuserId\tcommand"},
		{"Description but no Command", "Timestamp\tHostname\tProxySessionId\tUserDirectory\tUserId\tDescription"},
		{"Command but no Description", "Timestamp\tHostname\tProxySessionId\tUserDirectory\tUserId\tCommand"},
		{"empty and repeated unknown columns", "Timestamp\t\tHostname\tx\tProxySessionId\tx\tUserDirectory\t\tUserId\tCommand\t"},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader([]byte(tt.line))
			require.NoError(t, err)
			want := strings.Split(strings.TrimRight(strings.TrimPrefix(tt.line, "\ufeff"), "\r\n"), "\t")
			require.Equal(t, want, h.Columns())
			require.True(t, IsHeader([]byte(tt.line)))
		})
	}

	bad := []struct {
		name, line string
		want       []string // in the error message
	}{
		{name: "empty", line: "", want: []string{"empty"}},
		{name: "CR LF", line: "\r\n", want: []string{"empty"}},
		{name: "BOM only", line: "\ufeff", want: []string{"empty"}},
		{name: "not UTF-8", line: "Timestamp\tHostname\tUser\xff", want: []string{"UTF-8"}},
		{name: "no user columns", line: "Timestamp\tHostname\tProxySessionId\tCommand",
			want: []string{"missing column(s) UserDirectory, UserId (", `"Timestamp", "Hostname"`}},
		{name: "no command", line: "Timestamp\tHostname\tProxySessionId\tUserDirectory\tUserId", want: []string{"missing column(s) Command or Description"}},
		{name: "no session id", line: "Timestamp\tHostname\tUserDirectory\tUserId\tCommand", want: []string{"missing column(s) ProxySessionId"}},
		{name: "a data row", line: "1\t13.9.1.0\t20190228T101010.123+0100\tSENSE1", want: []string{
			"missing column(s) Timestamp, Hostname, ProxySessionId, UserDirectory, UserId, Command or Description", `"20190228T101010.123+0100"`}},
		{name: "duplicate column", line: "Timestamp\tHostname\tProxySessionId\tUserDirectory\tUserId\tCommand\tuserid",
			want: []string{"column UserId appears twice (columns 5 and 7)"}},
		{name: "many columns", line: strings.Repeat("x\t", 100), want: []string{`"x", "x"`, "and 76 more"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader([]byte(tt.line))
			require.Nil(t, h)
			require.ErrorIs(t, err, ErrNotAuditActivityLog)
			for _, want := range tt.want {
				require.Contains(t, err.Error(), want)
			}
			require.Contains(t, err.Error(), `C:\ProgramData\Qlik\Sense\Log\Proxy\Audit\<HOST>_AuditActivity_Proxy.txt`)
			_, ok := referenceHeader([]byte(tt.line))
			require.False(t, ok, "the reference accepts it")
		})
	}

	// The proxy's trace audit log is another file.
	for _, name := range notActivityLogs {
		_, err := ParseHeader(splitLines(readFile(t, "testdata/"+name))[0])
		require.ErrorIs(t, err, ErrNotAuditActivityLog)
		require.Contains(t, err.Error(), "missing column(s) UserDirectory, UserId, Command or Description")
		require.Contains(t, err.Error(), `"ActiveUserDirectory"`)
	}
}

// TestHeaderDoesNotAliasItsLine: the reader reuses its buffer.
func TestHeaderDoesNotAliasItsLine(t *testing.T) {
	line := []byte("Timestamp\tHostname\tProxySessionId\tUserDirectory\tUserId\tCommand")
	h, err := ParseHeader(line)
	require.NoError(t, err)
	for i := range line {
		line[i] = 'x'
	}
	require.Equal(t, []string{"Timestamp", "Hostname", "ProxySessionId", "UserDirectory", "UserId", "Command"}, h.Columns())
	h.Columns()[0] = "changed"
	require.Equal(t, "Timestamp", h.Columns()[0])
}

func TestIsHeader(t *testing.T) {
	for line, want := range map[string]bool{
		"Sequence#\tTimestamp\tHostname":                        true,
		"\ufefftimestamp\tHOSTNAME\r\n":                         true,
		" Timestamp \t Hostname ":                               true,
		"Hostname\tTimestamp":                                   true,
		"Timestamp\tHostName\tUserId":                           true,
		"Timestamp":                                             false,
		"Hostname":                                              false,
		"Timestamps\tHostname":                                  false,
		"1\t20190228T101010.123+0100\tSENSE1\tStart session":    false,
		"1\t20190228T101010.123+0100\tTimestamp\tStart session": false,
		"":                         false,
		"\r\n":                     false,
		"Timestamp Hostname":       false,
		"Time\u017ftamp\tHostname": false,
		"1\t20190228T101010.123+0100\tHostname\tmessage of Time": false,
	} {
		require.Equal(t, want, IsHeader([]byte(line)), "%q", line)
	}
}

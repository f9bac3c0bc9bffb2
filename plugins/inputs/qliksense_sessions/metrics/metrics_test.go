package metrics

import (
	"bytes"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// users_max_bytes bounds the users field as line protocol writes it, where
// every quote and backslash of the JSON gets a backslash: names of nothing
// else, the worst case, make it twice the JSON (issue 21).
func TestUsersFieldBoundAsWritten(t *testing.T) {
	serializer := &influx.Serializer{}
	require.NoError(t, serializer.Init())
	for _, maxBytes := range []int{2, 100, 4096, 512 * 1024, 1000 * 1024} {
		names := make([]string, 0, 40)
		for i := range 40 {
			names = append(names, strings.Repeat(`"`, 1+i%3)+`\`+strings.Repeat(`"\`, 20_000+i))
		}
		list, truncated := UsersJSON(names, maxBytes)
		require.True(t, truncated, maxBytes)
		require.LessOrEqual(t, LineProtocolSize([]byte(list)), maxBytes)

		var acc testutil.Accumulator
		AddSummaries(&acc, &Summaries{Site: state.Summary{ActiveUsers: len(names), Users: names}}, TriggerChange, maxBytes, nil)
		line, err := serializer.Serialize(acc.GetTelegrafMetrics()[0])
		require.NoError(t, err)
		field := bytes.Index(line, []byte(`users="`)) + len(`users="`)
		end := field
		for line[end] != '"' {
			if line[end] == '\\' {
				end++
			}
			end++
		}
		require.LessOrEqual(t, end-field, maxBytes, "the users field as written")
		require.Greater(t, end-field, maxBytes/2-50_000, "the users field as written")
		require.Less(t, len(line), 1<<20, "the line")
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"plain; 'quoted' \"x\"":   "plain; 'quoted' \"x\"",
		"a\nb":                    "a b",
		"a\r\nb\r\n\r\nc":         "a b c",
		"a\tb\rc":                 "a b c",
		"end\n":                   "end ",
		"\t\t":                    " ",
		"x\nqliksense_users 999i": "x qliksense_users 999i",
	} {
		require.Equal(t, want, OneLine(in), "%q", in)
	}
}

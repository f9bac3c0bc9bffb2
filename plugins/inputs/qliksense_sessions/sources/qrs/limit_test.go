package qrs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// At most maxApps names are kept; the rest are counted. (Parse keeps
// MaxApps; a smaller limit keeps the test fast.)
func TestParseLimit(t *testing.T) {
	const limit, extra = 50, 7
	var b strings.Builder
	b.WriteString("[")
	for i := range limit + extra {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"00000000-0000-4000-8000-%012d","name":"App %d"}`, i, i)
	}
	b.WriteString("]")
	names, err := parseAtMost([]byte(b.String()), limit)
	require.NoError(t, err)
	require.Len(t, names.Names, limit)
	require.Equal(t, limit+extra, names.Apps)
	require.Equal(t, extra, names.OverLimit)
	require.Equal(t, extra, names.LeftOut())
	require.Equal(t, "App 0", names.Names["00000000-0000-4000-8000-000000000000"])
	require.Equal(t, fmt.Sprintf("App %d", limit-1), names.Names[fmt.Sprintf("00000000-0000-4000-8000-%012d", limit-1)])
	require.NotContains(t, names.Names, fmt.Sprintf("00000000-0000-4000-8000-%012d", limit))

	// Names refused or empty do not use up the limit.
	names, err = parseAtMost([]byte(`[{"id":"00000000-0000-4000-8000-000000000001","name":"a\u0000"},`+
		`{"id":"00000000-0000-4000-8000-000000000002","name":""},{"id":"00000000-0000-4000-8000-000000000003","name":"c"}]`), 1)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"00000000-0000-4000-8000-000000000003": "c"}, names.Names)
	require.Equal(t, 1, names.Refused)
	require.Equal(t, 1, names.Unnamed)
	require.Zero(t, names.OverLimit)
}

// The limits fit each other: MaxAnswer holds MaxApps condensed apps of
// about 400 bytes with names of MaxNameBytes.
func TestLimitsFit(t *testing.T) {
	require.GreaterOrEqual(t, MaxAnswer, MaxApps*(400+MaxNameBytes))
}

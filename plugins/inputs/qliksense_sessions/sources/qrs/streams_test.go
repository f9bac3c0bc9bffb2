package qrs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each app's stream: published (id in lower case, the name cut like app
// names), unpublished, or left out when unfit for tags; at most maxApps.
func TestStreams(t *testing.T) {
	long := strings.Repeat("ö", 200)
	names, err := parseAtMost([]byte(`[
		{"id":"00000000-0000-4000-8000-000000000001","name":"a","stream":{"id":"AAEC8D41-5201-43AB-809F-3063750DFAFD","name":"Everyone"}},
		{"id":"00000000-0000-4000-8000-000000000002","name":"b","stream":null},
		{"id":"00000000-0000-4000-8000-000000000003","name":"c"},
		{"id":"00000000-0000-4000-8000-000000000004","name":"d","stream":{"id":"aaec8d41-5201-43ab-809f-3063750dfafd","name":"Bad\nname"}},
		{"id":"00000000-0000-4000-8000-000000000005","name":"e","stream":{"id":"not-a-guid","name":"X"}},
		{"id":"00000000-0000-4000-8000-000000000006","name":"","stream":{"id":"bbec8d41-5201-43ab-809f-3063750dfafd","name":"`+long+`"}},
		{"id":"nope","name":"g","stream":null},
		{"id":"00000000-0000-4000-8000-000000000008","name":"h","stream":null}
	]`), 4)
	require.NoError(t, err)
	require.Equal(t, map[string]Stream{
		"00000000-0000-4000-8000-000000000001": {ID: "aaec8d41-5201-43ab-809f-3063750dfafd", Name: "Everyone"},
		"00000000-0000-4000-8000-000000000002": {Name: Unpublished},
		"00000000-0000-4000-8000-000000000003": {Name: Unpublished},
		"00000000-0000-4000-8000-000000000006": {ID: "bbec8d41-5201-43ab-809f-3063750dfafd", Name: strings.Repeat("ö", 128)},
	}, names.Streams)

	names, err = parseAtMost([]byte(`[{"id":"00000000-0000-4000-8000-000000000001","name":"a"},{"id":"00000000-0000-4000-8000-000000000002","name":"b"}]`), 1)
	require.NoError(t, err)
	require.Len(t, names.Streams, 1)
}

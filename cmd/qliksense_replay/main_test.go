package main

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"-version"}, &stdout, &stderr))
	require.Regexp(t, `^qliksense_replay \S+ \(commit \S+, go\S+, `+runtime.GOOS+"/"+runtime.GOARCH+`(, Telegraf \S+)?\)\n$`, stdout.String())
	require.Empty(t, stderr.String())
}

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunNeedsConfig(t *testing.T) {
	err := run(nil)
	require.ErrorContains(t, err, "pass -config")
}

func TestRunReportsConfigErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.conf")
	require.ErrorContains(t, run([]string{"-config", missing}), `loading -config "`+missing+`" failed`)

	bad := filepath.Join(dir, "bad.conf")
	require.NoError(t, os.WriteFile(bad, []byte("[[inputs.qliksense_sessions]]\n  summary_interval = \"-1s\"\n"), 0o600))
	require.ErrorContains(t, run([]string{"-config", bad}), "summary_interval -1s is negative")

	empty := filepath.Join(dir, "empty.conf")
	require.NoError(t, os.WriteFile(empty, []byte("# nothing\n"), 0o600))
	require.ErrorContains(t, run([]string{"-config", empty}), "has no [[inputs.qliksense_sessions]] section")
}

func TestRunRejectsUnknownFlags(t *testing.T) {
	require.Error(t, run([]string{"-nope"}))
}

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunNeedsConfig(t *testing.T) {
	err := run(nil, &bytes.Buffer{})
	require.ErrorContains(t, err, "pass -config")
}

func TestRunReportsConfigErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.conf")
	require.ErrorContains(t, run([]string{"-config", missing}, &bytes.Buffer{}), `loading -config "`+missing+`" failed`)

	bad := filepath.Join(dir, "bad.conf")
	require.NoError(t, os.WriteFile(bad, []byte("[[inputs.qliksense_sessions]]\n  summary_interval = \"-1s\"\n"), 0o600))
	require.ErrorContains(t, run([]string{"-config", bad}, &bytes.Buffer{}), "summary_interval -1s is negative")

	empty := filepath.Join(dir, "empty.conf")
	require.NoError(t, os.WriteFile(empty, []byte("# nothing\n"), 0o600))
	require.ErrorContains(t, run([]string{"-config", empty}, &bytes.Buffer{}), "has no [[inputs.qliksense_sessions]] section")

	// Broken TOML is the shim's to report, with its position.
	broken := filepath.Join(dir, "broken.conf")
	require.NoError(t, os.WriteFile(broken, []byte("[[inputs.qliksense_sessions]]\n  service_address = \n"), 0o600))
	require.ErrorContains(t, run([]string{"-config", broken}, &bytes.Buffer{}), "line 2")
}

func TestRunRejectsUnknownFlags(t *testing.T) {
	require.Error(t, run([]string{"-nope"}, &bytes.Buffer{}))
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"-version"}, &out))
	require.Regexp(t, `^qliksense_sessions \S+ \(commit \S+, go\S+, `+runtime.GOOS+"/"+runtime.GOARCH+`, Telegraf v1\.\d+\.\d+\)\n$`, out.String())
}

// The Makefile's -ldflags -X names the variables of internal/version: a
// build with them set reports them.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "qliksense_sessions")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	const pkg = "github.com/qliksense-telegraf/qliksense-sessions/internal/version"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X "+pkg+".Version=9.8.7-test -X "+pkg+".Commit=abc1234-dirty", ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "-version").Output()
	require.NoError(t, err)
	require.Regexp(t, `^qliksense_sessions 9\.8\.7-test \(commit abc1234-dirty, go\S+, `+runtime.GOOS+"/"+runtime.GOARCH+`, Telegraf v1\.37\.2\)\n$`, string(out))
}

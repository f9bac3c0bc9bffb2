package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/plugins/common/shim"
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

// Keys and tables the shim would silently ignore stop the binary, each named
// with its table and line.
func TestRunRejectsUnknownKeys(t *testing.T) {
	t.Setenv("QSS_TEST_PORT", "9997")
	t.Setenv("QSS_TEST_STATE", `C:\ProgramData\qss "state".json`)
	const spelling = ": check its spelling against sample.conf"
	const elsewhere = ": this file holds only the plugin's own [[inputs.qliksense_sessions]] table; "
	const shimOption = ": Telegraf's execd shim does not apply its general plugin options: set it on [[inputs.execd]] in telegraf.conf"
	tests := []struct {
		file string
		want []string // the error's lines, after `-config "<file>": `
	}{
		{"misspelt_plugin_key.conf", []string{
			`unknown key "exclude_user" in [[inputs.qliksense_sessions]] (line 4)` + spelling}},
		{"misspelt_service_address.conf", []string{
			`unknown key "servce_address" in [[inputs.qliksense_sessions]] (line 2)` + spelling}},
		{"misspelt_proxy_key.conf", []string{
			`unknown key "virtual_proxy" in [[inputs.qliksense_sessions.proxy]] (line 10)` + spelling}},
		{"unknown_subtable.conf", []string{
			`unknown table [[inputs.qliksense_sessions.proxies]] in [[inputs.qliksense_sessions]] (line 4)` + spelling}},
		{"unknown_input_table.conf", []string{
			`unknown table [[inputs.qliksense_session]] (line 1): the plugin's table is [[inputs.qliksense_sessions]]`}},
		{"output_table.conf", []string{
			`unknown table [[outputs.file]] (line 4)` + elsewhere + `outputs go in telegraf.conf`}},
		{"agent_table.conf", []string{
			`unknown table [agent] at the top level (line 1)` + elsewhere + `Telegraf's settings go in telegraf.conf`}},
		{"telegraf_options.conf", []string{
			`unknown key "interval" in [[inputs.qliksense_sessions]] (line 3)` + shimOption,
			`unknown table [inputs.qliksense_sessions.tags] in [[inputs.qliksense_sessions]] (line 5)` + shimOption}},
		{"two_plugin_tables.conf", []string{
			`2 [[inputs.qliksense_sessions]] tables (line 4): the binary runs only the first; give each its own -config file and [[inputs.execd]]`}},
		{"env_vars.conf", []string{
			`unknown key "state_fil" in [[inputs.qliksense_sessions]] (line 5)` + spelling}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			err := run([]string{"-config", path}, &bytes.Buffer{})
			require.Error(t, err)
			want := make([]string, len(tt.want))
			for i, line := range tt.want {
				want[i] = `-config "` + path + `": ` + line
			}
			require.Equal(t, strings.Join(want, "\n"), err.Error())
		})
	}
}

// Every config the project ships passes the check and loads, and so does
// sample.conf with every option it documents switched on: sample.conf names
// no option the plugin lacks.
func TestShippedConfigsPass(t *testing.T) {
	t.Setenv("QSS_DEMO_PORT", "9997")
	t.Setenv("QSS_DEMO_FILES_PORT", "9998")
	t.Setenv("QSS_DEMO_AUDIT", t.TempDir())
	all := filepath.Join(t.TempDir(), "all_options.conf")
	require.NoError(t, os.WriteFile(all, uncommentOptions(t, "../../sample.conf"), 0o600))

	for _, path := range []string{"../../sample.conf", "../../examples/demo/qliksense_sessions.conf", "../../examples/demo/qliksense_sessions_logfiles.conf",
		"../../examples/windows/qliksense_sessions.conf", all} {
		name := strings.TrimPrefix(path, "../../")
		if path == all {
			name = "sample.conf with every option on"
		}
		t.Run(name, func(t *testing.T) {
			require.NoError(t, checkConfig(path))
			if path == all {
				return // its proxy block names certificate files that do not exist
			}
			s := shim.New()
			require.NoError(t, s.LoadConfig(&path))
			require.NotNil(t, s.Input)
		})
	}
}

// uncommentOptions switches on the commented-out options and tables of a
// sample config ("# key = value", "#   # key = value", "# [[table]]"),
// leaving the "##" prose alone.
func uncommentOptions(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	option := regexp.MustCompile(`^(\[|[a-z_]+ = )`)
	lines := strings.Split(string(data), "\n")
	n := 0
	for i, line := range lines {
		s := strings.TrimSpace(line)
		for strings.HasPrefix(s, "#") && !strings.HasPrefix(s, "##") {
			s = strings.TrimSpace(s[1:])
		}
		if s != strings.TrimSpace(line) && option.MatchString(s) {
			lines[i], n = s, n+1
		}
	}
	require.Greater(t, n, 10, "sample.conf documents its options as commented-out lines")
	return []byte(strings.Join(lines, "\n"))
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
	require.Regexp(t, `^qliksense_sessions 9\.8\.7-test \(commit abc1234-dirty, go\S+, `+
		runtime.GOOS+"/"+runtime.GOARCH+`, Telegraf v1\.37\.2\)\n$`, string(out))
}

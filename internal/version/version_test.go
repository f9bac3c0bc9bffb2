package version

import (
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFormat(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Deps: []*debug.Module{
			{Path: "github.com/BurntSushi/toml", Version: "v1.6.0"},
			{Path: "github.com/influxdata/telegraf", Version: "v1.37.2"},
		},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	dirty := *info
	dirty.Settings = slices.Clone(info.Settings)
	dirty.Settings[2].Value = "true"
	replaced := *info
	replaced.Deps = []*debug.Module{{Path: "github.com/influxdata/telegraf", Version: "v1.37.2",
		Replace: &debug.Module{Path: "../telegraf", Version: "v1.37.3-fork"}}}

	tests := []struct {
		name            string
		version, commit string
		info            *debug.BuildInfo
		want            string
	}{
		{"stamped by the Makefile", "0.3.0", "abc1234", info,
			"qliksense_sessions 0.3.0 (commit abc1234, go1.26.8, windows/amd64, Telegraf v1.37.2)"},
		{"plain go build: the vcs stamp", "", "", info,
			"qliksense_sessions dev (commit 0123456, go1.26.8, windows/amd64, Telegraf v1.37.2)"},
		{"plain go build of a modified tree", "", "", &dirty,
			"qliksense_sessions dev (commit 0123456-dirty, go1.26.8, windows/amd64, Telegraf v1.37.2)"},
		{"ldflags win over the vcs stamp", "0.3.0-1-gabc1234-dirty", "abc1234-dirty", &dirty,
			"qliksense_sessions 0.3.0-1-gabc1234-dirty (commit abc1234-dirty, go1.26.8, windows/amd64, Telegraf v1.37.2)"},
		{"replaced Telegraf", "0.3.0", "abc1234", &replaced,
			"qliksense_sessions 0.3.0 (commit abc1234, go1.26.8, windows/amd64, Telegraf v1.37.3-fork)"},
		{"no build info", "", "", nil,
			"qliksense_sessions dev (commit unknown, " + runtime.Version() + ", windows/amd64)"},
		{"no vcs stamp, no Telegraf", "", "", &debug.BuildInfo{GoVersion: "go1.26.8"},
			"qliksense_sessions dev (commit unknown, go1.26.8, windows/amd64)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, format("qliksense_sessions", tt.version, tt.commit, tt.info, "windows", "amd64"))
		})
	}
}

func TestString(t *testing.T) {
	s := String("qliksense_replay")
	require.True(t, strings.HasPrefix(s, "qliksense_replay dev (commit "), s)
	require.Contains(t, s, runtime.Version()+", "+runtime.GOOS+"/"+runtime.GOARCH)
}

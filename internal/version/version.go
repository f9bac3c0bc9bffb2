// Package version says which build a binary is, for the tools' -version
// flag: the release and commit the Makefile stamps in with
//
//	-ldflags "-X github.com/qliksense-telegraf/qliksense-sessions/internal/version.Version=0.3.0
//	          -X github.com/qliksense-telegraf/qliksense-sessions/internal/version.Commit=abc1234"
//
// or, in a plain `go build`, what the Go toolchain recorded (vcs.revision).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the Makefile with -ldflags -X; empty in a plain go build.
var (
	// Version is the release, from `git describe --tags --always --dirty`
	// without the tag's leading "v" (e.g. 0.3.0, 0.3.0-2-gabc1234-dirty).
	Version string
	// Commit is the abbreviated commit hash, "-dirty" when the work tree had
	// changes.
	Commit string
)

const telegrafModule = "github.com/influxdata/telegraf"

// String is the -version line of a program, e.g.
// "qliksense_sessions 0.3.0 (commit abc1234, go1.26.8, windows/amd64, Telegraf v1.37.2)".
func String(program string) string {
	info, _ := debug.ReadBuildInfo()
	return format(program, Version, Commit, info, runtime.GOOS, runtime.GOARCH)
}

func format(program, version, commit string, info *debug.BuildInfo, goos, goarch string) string {
	if version == "" {
		version = "dev"
	}
	goVersion := runtime.Version()
	telegraf := ""
	if info != nil {
		if commit == "" {
			commit = vcsCommit(info)
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, dep := range info.Deps {
			if dep.Path == telegrafModule {
				telegraf = dep.Version
				if dep.Replace != nil {
					telegraf = dep.Replace.Version
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	s := fmt.Sprintf("%s %s (commit %s, %s, %s/%s", program, version, commit, goVersion, goos, goarch)
	if telegraf != "" {
		s += ", Telegraf " + telegraf
	}
	return s + ")"
}

// vcsCommit is the revision the go command stamped into the binary (go build
// in a git work tree), abbreviated as git does, or "".
func vcsCommit(info *debug.BuildInfo) string {
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" {
		return ""
	}
	if len(revision) > 7 {
		revision = revision[:7]
	}
	if modified == "true" {
		revision += "-dirty"
	}
	return revision
}

package logfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// DefaultGlobWarnEvery is how often a glob of Config.Files that matches no
// file is warned about again. The globs are expanded every glob_interval
// (10 s by default): a warning each time would bury the rest of the log,
// while one an hour stays in any log an admin looks at (rotated logs
// included) during the day a typo or a missing share lasts, at 24 lines a
// day.
const DefaultGlobWarnEvery = time.Hour

// globState is what the source knows of one glob of Config.Files.
type globState struct {
	misses int       // expansions in a row that matched nothing
	warned time.Time // when it was last warned about
}

// globLive expands the live globs into sorted, distinct paths, and warns
// about each glob that matches nothing: at start, then when it matched
// nothing at two expansions in a row (a rotation can leave a one-node glob
// without a match for a moment) and globWarnEvery passed since the last
// warning.
func (s *Source) globLive(atStart bool) []string {
	if s.globs == nil {
		s.globs = make([]globState, len(s.cfg.Files))
	}
	now := time.Now()
	var out []string
	for i, g := range s.cfg.Files {
		matches, _ := filepath.Glob(g) //nolint:errcheck // its only error is a bad pattern, and New checked them
		out = append(out, matches...)
		st := &s.globs[i]
		if len(matches) > 0 {
			st.misses = 0
			continue
		}
		st.misses++
		if atStart || st.misses >= 2 && now.Sub(st.warned) >= s.cfg.globWarnEvery {
			st.warned = now
			s.log.Warnf("%s: %s matches no file: %s; it is looked for again every %s (glob_interval), "+
				"and this warning repeats every %s while it matches nothing", optFiles, g, noMatchWhy(g), s.cfg.GlobInterval, s.cfg.globWarnEvery)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// noMatchWhy says what to check about a glob that matches nothing.
func noMatchWhy(g string) string {
	caseToo := ""
	if runtime.GOOS != "windows" {
		caseToo = " and case (this system tells upper from lower case)"
	}
	dir := filepath.Dir(g)
	meta := "*?["
	if runtime.GOOS != "windows" {
		meta += `\`
	}
	if strings.ContainsAny(dir, meta) {
		return fmt.Sprintf("check the folders' spelling%s, that they can be reached and read by the user Telegraf runs as, and the file names", caseToo)
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("the folder %s does not exist: check its spelling%s, or whether its share is mounted and reachable", dir, caseToo)
	case err != nil:
		return fmt.Sprintf("the folder %s cannot be looked at (%v): give the user Telegraf runs as access to it", dir, err)
	case !info.IsDir():
		return dir + " is not a folder"
	}
	if _, err := os.ReadDir(dir); err != nil {
		return fmt.Sprintf("the folder %s cannot be listed (%v): give the user Telegraf runs as read access", dir, err)
	}
	return fmt.Sprintf("no file in %s has such a name: check the file name's spelling%s, "+
		"and that audit activity logging is on for the proxy in the QMC", dir, caseToo)
}

package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/influxdata/telegraf/filter"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// Excludes are the exclude_users patterns, compiled.
type Excludes struct {
	filters []filter.Filter
	dirs    []string // per pattern, its literal directory (see literalDirectory)
}

// CompileExcludes compiles exclude_users patterns: DIRECTORY\userid globs,
// matched ignoring case.
func CompileExcludes(patterns []string) (*Excludes, error) {
	e := &Excludes{}
	for _, pattern := range patterns {
		f, err := compileUserGlob(pattern)
		if err != nil {
			return nil, err
		}
		e.filters = append(e.filters, f)
		e.dirs = append(e.dirs, literalDirectory(pattern))
	}
	return e, nil
}

// literalDirectory is the directory a DIRECTORY\userid pattern names, in
// lower case, or "" if it is a glob or there is none.
func literalDirectory(pattern string) string {
	dir, _, found := strings.Cut(strings.ToLower(strings.TrimSpace(pattern)), `\`)
	if !found || strings.ContainsAny(dir, "*?[") {
		return ""
	}
	return dir
}

// compileUserGlob compiles one exclude_users pattern. Matching ignores case;
// a backslash is the DIRECTORY\userid separator, never a glob escape.
func compileUserGlob(pattern string) (filter.Filter, error) {
	p := strings.ToLower(strings.TrimSpace(pattern))
	if p == "" {
		return nil, errors.New(`exclude_users: empty pattern: remove it, or give DIRECTORY\userid globs such as 'INTERNAL\sa_*'`)
	}
	if strings.ContainsAny(p, "*?[") {
		p = strings.ReplaceAll(p, `\`, `\\`)
	}
	f, err := filter.Compile([]string{p})
	if err != nil {
		return nil, fmt.Errorf(`exclude_users: pattern %q: %w: use * and ? as wildcards, e.g. 'INTERNAL\sa_*'`, pattern, err)
	}
	return f, nil
}

// Excluded tells whether a pattern matches the event's user. It builds the
// name in buf, so as not to allocate: each goroutine passes its own.
func (e *Excludes) Excluded(ev *event.Event, buf *[]byte) bool {
	if len(e.filters) == 0 {
		return false
	}
	// Most patterns name a directory (INTERNAL\sa_*): an event of another
	// directory needs no lower-cased name.
	for i, dir := range e.dirs {
		if dir == "" || strings.EqualFold(dir, ev.Directory) {
			break
		}
		if i == len(e.dirs)-1 {
			return false
		}
	}
	*buf = appendLower(appendLower((*buf)[:0], ev.Directory), `\`)
	*buf = appendLower(*buf, ev.UserID)
	name := unsafe.String(unsafe.SliceData(*buf), len(*buf)) //nolint:gosec // G103: a zero-copy view of buf, read only while buf is unchanged
	for _, f := range e.filters {
		if f.Match(name) {
			return true
		}
	}
	return false
}

// appendLower appends s in lower case, as strings.ToLower would write it.
func appendLower(dst []byte, s string) []byte {
	for _, r := range s {
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

package logfile

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// rotatedGlob turns the glob of live files .../X.txt into the glob of their
// rotated copies in the same folder, .../X_*.log.
func rotatedGlob(g string) (string, bool) {
	if len(g) < 4 || !strings.EqualFold(g[len(g)-4:], ".txt") {
		return "", false
	}
	return g[:len(g)-4] + "_*.log", true
}

// glob expands globs into sorted, distinct paths (of any kind of file: open
// skips what is not a regular file).
func glob(globs []string) []string {
	var out []string
	for _, g := range globs {
		matches, _ := filepath.Glob(g) //nolint:errcheck // its only error is a bad pattern, and New checked them
		out = append(out, matches...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// candidate is a file found at start.
type candidate struct {
	path   string
	f      *os.File
	size   int64
	mtime  time.Time
	prefix []byte
	live   bool
}

// open opens a candidate and reads its first bytes: into a new slice, or,
// when check is set, into s.scratch (clone them to keep them).
// Only regular files are opened: a path is looked at first, since opening a
// FIFO or a device may block, and openShared checks the file it opened.
func (s *Source) open(path string, live, check bool) (*candidate, error) {
	if err := statRegular(path); err != nil {
		return nil, err
	}
	f, err := openShared(path)
	if err != nil {
		return nil, err
	}
	delete(s.special, path)
	info, err := f.Stat()
	var prefix []byte
	if err == nil {
		buf := s.scratch[:]
		if !check {
			buf = make([]byte, FingerprintBytes)
		}
		prefix, err = readAt(f, buf[:min(info.Size(), FingerprintBytes)])
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	s.stats.openFiles.Add(1)
	return &candidate{path: path, f: f, size: info.Size(), mtime: info.ModTime(), prefix: prefix, live: live}, nil
}

// readAt reads the first len(b) bytes of f into b, without moving its
// offset, and returns those it got.
func readAt(f *os.File, b []byte) ([]byte, error) {
	m, err := f.ReadAt(b, 0)
	if err == io.EOF {
		err = nil
	}
	return b[:m], err
}

// liveOpenError reports why the file at a live path cannot be followed: a
// file that is gone is not (a rotation, or a path the glob just matched
// that went away), unless atStart (a symbolic link to nothing); a path
// that is not a regular file is skipped (skipSpecial); other errors are
// counted and logged, once a minute per path.
func (s *Source) liveOpenError(lp *livePath, err error, atStart bool) {
	if errors.Is(err, fs.ErrNotExist) {
		if atStart {
			lp.openErr.logf(s.log.Warnf, "Not following %s: %v (a symbolic link to nothing, or the file went away as it was found)", lp.path, err)
		}
		return
	}
	if s.skipSpecial(err) {
		return
	}
	s.stats.readErrors.Add(1)
	lp.openErr.logf(s.log.Errorf, "Not following %s: %v (it is tried again every poll; counted in read errors)", lp.path, err)
}

func (s *Source) openError(path string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		return // it went away between the glob and the open
	}
	if s.skipSpecial(err) {
		return
	}
	s.stats.readErrors.Add(1)
	s.readErr.logf(s.log.Errorf, "Opening %s failed: %v", path, err)
}

// refresh reads the candidate's size and first bytes again.
func (c *candidate) refresh() error {
	info, err := c.f.Stat()
	if err != nil {
		return err
	}
	prefix, err := readAt(c.f, make([]byte, min(info.Size(), FingerprintBytes)))
	if err != nil {
		return err
	}
	c.size, c.mtime, c.prefix = info.Size(), info.ModTime(), prefix
	return nil
}

func (s *Source) closeCandidate(c *candidate) {
	if c.f != nil {
		c.f.Close()
		c.f = nil
		s.stats.openFiles.Add(-1)
	}
}

// closeFile closes the handle; the file's position stays readable.
func (s *Source) closeFile(fl *file) {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
		s.setBuf(fl, nil)
		s.stats.openFiles.Add(-1)
	}
}

// expandLive adds the paths that the live globs match now.
func (s *Source) expandLive(ctx context.Context, handle func(Row)) {
	paths := s.globLive(false)
	for _, p := range paths {
		if _, found := slices.BinarySearchFunc(s.live, p, func(lp *livePath, p string) int { return strings.Compare(lp.path, p) }); found {
			continue
		}
		// A server that appeared after the start: its files rotated since
		// are read before the live one (their rows are new).
		lp := &livePath{path: p, rotatedAt: s.started}
		s.mu.Lock()
		i, _ := slices.BinarySearchFunc(s.live, p, func(lp *livePath, p string) int { return strings.Compare(lp.path, p) })
		s.live = slices.Insert(s.live, i, lp)
		s.mu.Unlock()
		s.log.Debugf("Found %s", p)
		s.checkPath(ctx, lp, handle)
	}
	// Forget paths that are gone and that no file is followed at.
	s.mu.Lock()
	s.live = slices.DeleteFunc(s.live, func(lp *livePath) bool {
		_, found := slices.BinarySearch(paths, lp.path)
		return lp.cur == nil && !found
	})
	s.mu.Unlock()
}

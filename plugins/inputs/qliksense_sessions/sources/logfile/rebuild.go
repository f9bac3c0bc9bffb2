package logfile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Rebuilt is closed when Run has delivered the rows that were in the files
// at its start.
func (s *Source) Rebuilt() <-chan struct{} { return s.rebuilt }

// rebuild reads the files found at start.
func (s *Source) rebuild(ctx context.Context, handle func(Row)) {
	start := time.Now()
	s.started = start
	before := s.Stats()

	livePaths := s.globLive(true)
	var rotPaths []string
	for _, p := range glob(append(slices.Clone(s.rotGlobs), s.cfg.ArchiveFiles...)) {
		if _, isLive := slices.BinarySearch(livePaths, p); !isLive {
			rotPaths = append(rotPaths, p)
		}
	}

	live := make([]*candidate, 0, len(livePaths))
	var rotated []*candidate
	var paths []*livePath // the live paths, with or without a file
	for _, p := range livePaths {
		c, err := s.open(p, true, false)
		if err != nil {
			// Its rotated files of later are read when a file appears.
			lp := &livePath{path: p, rotatedAt: start}
			s.liveOpenError(lp, err, true)
			paths = append(paths, lp)
			continue
		}
		live = append(live, c)
	}
	for _, p := range rotPaths {
		c, err := s.open(p, false, false)
		if err != nil {
			s.openError(p, err)
			continue
		}
		rotated = append(rotated, c)
	}
	// The same file may be both in the live folder and in ArchivedLogs (or
	// be a copy of a live file): read one of them, the largest.
	seen := make(map[string]*candidate)
	for _, c := range live {
		seen[string(c.prefix)] = c
	}
	rotated = slices.DeleteFunc(rotated, func(c *candidate) bool {
		if len(c.prefix) == 0 {
			s.closeCandidate(c) // nothing to read
			return true
		}
		other, dup := seen[string(c.prefix)]
		if !dup {
			seen[string(c.prefix)] = c
			return false
		}
		if other.live || other.size >= c.size {
			s.closeCandidate(c)
			return true
		}
		s.closeCandidate(other) // its f is nil now: dropped below
		seen[string(c.prefix)] = c
		return false
	})
	rotated = slices.DeleteFunc(rotated, func(c *candidate) bool { return c.f == nil })

	// Rotated files: those a saved position names, and those modified within
	// archive_max_age. Their order (oldest first, then the live files)
	// breaks ties of time stamps in the merge.
	slices.SortStableFunc(rotated, func(a, b *candidate) int { return a.mtime.Compare(b.mtime) })
	cutoff := start.Add(-s.cfg.ArchiveMaxAge)
	var streams []*stream
	for _, c := range rotated {
		if fl := s.openRotated(c, start, true, s.cfg.ArchiveMaxAge > 0 && !c.mtime.Before(cutoff)); fl != nil {
			streams = append(streams, &stream{fl: fl, final: true, order: len(streams)})
		}
	}
	archives := len(streams)

	// Live files, from the start or where a saved position says.
	var files int
	s.mu.Lock()
	for _, c := range live {
		offset, _ := s.matchLocked(c.prefix)
		if offset > c.size {
			s.log.Warnf("%s is shorter (%d bytes) than the saved position (%d): reading it from the start", c.path, c.size, offset)
			offset = 0
		}
		paths = append(paths, &livePath{path: c.path, cur: s.newFile(c, offset, c.size), followed: true})
		files++
		if offset > 0 {
			s.log.Infof("Following %s, from offset %d (where the state file left it)", c.path, offset)
		} else {
			s.log.Infof("Following %s", c.path)
		}
	}
	slices.SortFunc(paths, func(a, b *livePath) int { return strings.Compare(a.path, b.path) })
	s.live = paths
	s.mu.Unlock()
	for _, lp := range s.live {
		if lp.cur != nil {
			streams = append(streams, &stream{fl: lp.cur, order: len(streams)})
		}
	}
	s.merge(ctx, streams, start, handle)
	if ctx.Err() != nil {
		return
	}
	after := s.Stats()
	elapsed := time.Since(start)
	var unfollowed string
	if n := len(s.live) - files; n > 0 {
		unfollowed = fmt.Sprintf("; %d more matched the globs but are not followed (see above)", n)
	}
	s.log.Infof("Read %d rows (%d bytes) from %d live and %d rotated or archived log files in %s; following %d files%s",
		after.Rows-before.Rows, after.Bytes-before.Bytes, files, archives, elapsed.Round(time.Millisecond), files, unfollowed)
}

// readRotated reads a rotated or archived file to its end (see openRotated)
// and keeps its position. It tells whether it read the file.
func (s *Source) readRotated(ctx context.Context, c *candidate, now time.Time, rebuilding, unknown bool, handle func(Row)) bool {
	fl := s.openRotated(c, now, rebuilding, unknown)
	if fl == nil {
		return false
	}
	s.read(ctx, fl, true, handle)
	s.finishRotated(fl, now) // also when stopped half way: it keeps the offset
	return true
}

// openRotated takes a rotated or archived file to read to its end, from
// where a saved position or a file read before says; a file that no
// position names is read from its start if unknown says so, else left
// alone (nil), and so is one read through before. Its rows are
// Row.Rebuilding if rebuilding.
func (s *Source) openRotated(c *candidate, now time.Time, rebuilding, unknown bool) *file {
	// A matched position is taken out and the file put in its place under
	// one lock, so that Positions never misses it.
	s.mu.Lock()
	defer s.mu.Unlock()
	offset, known := s.matchLocked(c.prefix)
	switch {
	case known && offset >= c.size:
		// Read through before.
		s.closeCandidate(c)
		s.done = append(s.done, Position{Path: c.path, Fingerprint: fingerprint(c.prefix), FingerprintBytes: int64(len(c.prefix)), Offset: offset, Seen: now})
		return nil
	case !known && !unknown:
		s.closeCandidate(c)
		return nil
	}
	var rebuildEnd int64
	if rebuilding {
		rebuildEnd = c.size
	}
	fl := s.newFile(c, offset, rebuildEnd)
	s.reading = append(s.reading, fl)
	return fl
}

// finishRotated closes a rotated or archived file and keeps its position.
func (s *Source) finishRotated(fl *file, now time.Time) {
	s.mu.Lock()
	s.reading = slices.DeleteFunc(s.reading, func(r *file) bool { return r == fl })
	s.retireLocked(fl, now)
	s.mu.Unlock()
}

package logfile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// checkPath compares the file at lp.path with the one followed there.
func (s *Source) checkPath(ctx context.Context, lp *livePath, handle func(Row)) {
	c, err := s.open(lp.path, true, true)
	if err != nil {
		if lp.cur != nil {
			// Renamed away or deleted: what the handle holds is all there
			// will be.
			s.retire(ctx, lp, handle)
			s.catchUp(ctx, lp, handle)
		}
		s.liveOpenError(lp, err, false)
		return
	}
	if cur := lp.cur; cur != nil {
		info, err := cur.f.Stat()
		if err != nil {
			s.closeCandidate(c)
			s.stats.readErrors.Add(1)
			s.readErr.logf(s.log.Errorf, "Reading %s failed: %v", cur.path, err)
			return
		}
		if info.Size() < cur.readPos {
			s.closeCandidate(c)
			s.restart(ctx, cur, handle, fmt.Sprintf("shrank from %d to %d bytes", cur.readPos, info.Size()))
			return
		}
		// The path names our file if it starts with the same bytes and is
		// not longer (c was looked at first: ours can only have grown since).
		n := len(cur.prefix)
		if len(c.prefix) >= n && bytes.Equal(c.prefix[:n], cur.prefix) && c.size <= info.Size() {
			s.closeCandidate(c)
			return
		}
		c.prefix = slices.Clone(c.prefix) // reading reuses s.scratch
		if ours, err := readAt(cur.f, make([]byte, n)); err == nil && !bytes.Equal(ours, cur.prefix) {
			s.closeCandidate(c)
			s.restart(ctx, cur, handle, "was rewritten (its first bytes changed)")
			return
		}
		s.retire(ctx, lp, handle)
	} else {
		c.prefix = slices.Clone(c.prefix)
	}
	// A new file at the path: a rotation's new file, or a file that
	// appeared. Files rotated away before it come first.
	if s.catchUp(ctx, lp, handle) {
		// The new file may have been rotated and read meanwhile: look at
		// its first bytes again (it was not read yet), to know it.
		if err := c.refresh(); err != nil {
			s.closeCandidate(c)
			s.stats.readErrors.Add(1)
			s.readErr.logf(s.log.Errorf, "Reading %s failed: %v", c.path, err)
			return
		}
	}
	if ctx.Err() != nil {
		s.closeCandidate(c)
		return
	}
	s.mu.Lock()
	offset, _ := s.matchLocked(c.prefix)
	if offset > c.size {
		offset = 0
	}
	fl := s.newFile(c, offset, 0)
	lp.cur, lp.rotatedAt = fl, time.Time{}
	s.mu.Unlock()
	if !lp.followed {
		lp.followed = true
		s.log.Infof("Following %s", lp.path)
	}
	s.read(ctx, fl, false, handle)
}

// catchUp reads the rotated files of a live path that were modified since
// the file followed there was rotated away and that no Position names
// (files that lived under the live name for less than a poll), oldest
// first. It tells whether it looked.
func (s *Source) catchUp(ctx context.Context, lp *livePath, handle func(Row)) bool {
	if lp.rotatedAt.IsZero() || ctx.Err() != nil {
		return false
	}
	dir, base := filepath.Split(lp.path)
	if len(base) < 4 || !strings.EqualFold(base[len(base)-4:], ".txt") {
		return false // no rotated names known
	}
	stem := base[:len(base)-4] + "_"
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		s.stats.readErrors.Add(1)
		s.readErr.logf(s.log.Errorf, "Listing %s failed: %v", dir, err)
		return false
	}
	var found []*candidate //nolint:prealloc // few of the folder's entries are this path's rotated files
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || len(name) < len(stem)+4 || !strings.HasPrefix(name, stem) || !strings.EqualFold(name[len(name)-4:], ".log") {
			continue
		}
		if info, err := e.Info(); err != nil || info.ModTime().Before(lp.rotatedAt) {
			continue // gone, or older: read at start, or left out there on purpose
		}
		path := filepath.Join(dir, name)
		c, err := s.open(path, false, false)
		if err != nil {
			s.openError(path, err)
			continue
		}
		if len(c.prefix) == 0 {
			s.closeCandidate(c)
			continue
		}
		found = append(found, c)
	}
	// Equal times (coarse clocks) keep the order of the names, which carry
	// the time of the rotation.
	slices.SortStableFunc(found, func(a, b *candidate) int { return a.mtime.Compare(b.mtime) })
	now := time.Now()
	for _, c := range found {
		if ctx.Err() != nil {
			s.closeCandidate(c)
			continue
		}
		// The file just rotated away, and those read before, match a
		// position: only the rest are read.
		if s.readRotated(ctx, c, now, false, true, handle) {
			s.stats.rotations.Add(1)
			s.log.Debugf("%s lived under %s for less than a poll: read it (%d bytes)", c.path, lp.path, c.size)
		}
	}
	return true
}

// retire reads the file followed at lp to its end and closes it.
func (s *Source) retire(ctx context.Context, lp *livePath, handle func(Row)) {
	cur := lp.cur
	if !cur.bad {
		s.read(ctx, cur, true, handle)
	}
	if ctx.Err() != nil {
		return // keep it: Positions has its offset
	}
	s.stats.rotations.Add(1)
	s.log.Debugf("%s was rotated or deleted; read it to its end (%d bytes)", cur.path, cur.readPos)
	var rotatedAt time.Time
	if info, err := cur.f.Stat(); err == nil && !cur.bad {
		rotatedAt = info.ModTime()
	}
	s.mu.Lock()
	lp.cur, lp.rotatedAt = nil, rotatedAt
	s.retireLocked(cur, time.Now())
	s.mu.Unlock()
}

// retireLocked closes a file read to its end and keeps its position.
func (s *Source) retireLocked(fl *file, now time.Time) {
	if p, ok := fl.position(now); ok && !fl.bad {
		s.done = append(s.done, p)
	}
	s.closeFile(fl)
}

// restart reads a file again from its start.
func (s *Source) restart(ctx context.Context, fl *file, handle func(Row), why string) {
	if s.rewind(fl, why) {
		s.read(ctx, fl, false, handle)
	}
}

// rewind moves a file that shrank or was rewritten back to its start, to be
// read again; false if it could not.
func (s *Source) rewind(fl *file, why string) bool {
	s.stats.truncations.Add(1)
	s.log.Warnf("%s %s: reading it again from the start", fl.path, why)
	if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
		s.stats.readErrors.Add(1)
		s.readErr.logf(s.log.Errorf, "Reading %s failed: %v", fl.path, err)
		return false
	}
	s.mu.Lock()
	fl.reset()
	s.mu.Unlock()
	return true
}

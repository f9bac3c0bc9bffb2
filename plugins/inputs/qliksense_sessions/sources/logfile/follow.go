package logfile

import (
	"context"
	"errors"
	"time"
)

// Run reads until ctx is done: first the rows already in the files (see the
// package documentation), then new ones. It calls handle for each row, from
// the goroutine that called Run: those of the rebuild in time-stamp order
// across the files, then each file's new rows as they are read. Run may be
// called once.
func (s *Source) Run(ctx context.Context, handle func(Row)) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("logfile: Run called twice")
	}
	defer s.closeAll()
	s.rebuild(ctx, handle)
	s.mu.Lock()
	s.following = true
	s.mu.Unlock()
	close(s.rebuilt)
	if ctx.Err() != nil {
		return nil
	}

	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	nextGlob := time.Now().Add(s.cfg.GlobInterval)
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-poll.C:
			if !now.Before(nextGlob) {
				s.expandLive(ctx, handle)
				nextGlob = now.Add(s.cfg.GlobInterval)
				s.mu.Lock()
				s.pruneLocked(now)
				s.mu.Unlock()
				s.forgetSpecial()
			}
			for _, lp := range s.live {
				if ctx.Err() != nil {
					return nil
				}
				s.poll(ctx, lp, handle)
			}
			s.polls.Add(1)
		}
	}
}

func (s *Source) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lp := range s.live {
		if lp.cur != nil {
			s.closeFile(lp.cur)
		}
	}
	for _, fl := range s.reading {
		s.closeFile(fl)
	}
	s.reading = nil
}

// poll reads what the live file gained; when it gained nothing, it checks
// whether the path still names it.
func (s *Source) poll(ctx context.Context, lp *livePath, handle func(Row)) {
	if lp.cur != nil && !lp.cur.bad {
		if n := s.read(ctx, lp.cur, false, handle); n > 0 {
			return
		}
	}
	s.checkPath(ctx, lp, handle)
}

package logfile

// Checkpoint runs f (if not nil) while no row is being handled, and returns
// the positions after exactly the rows whose handler calls have returned,
// taken together with f: what f snapshots of the handler's effects matches
// them. Lock order: the handler may take a lock of the caller's, and so may
// f; the caller must not hold such a lock when it calls Checkpoint.
func (s *Source) Checkpoint(f func()) []Position {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	if f != nil {
		f()
	}
	return s.Positions()
}

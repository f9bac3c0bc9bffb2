package logfile

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// Position is how far a file has been delivered, for the state file.
type Position struct {
	// Path is where the file was last read; informational: files are
	// matched by fingerprint.
	Path string `json:"path"`
	// Fingerprint is the hex SHA-256 of the file's first FingerprintBytes
	// bytes (FingerprintBytes of this struct).
	Fingerprint      string `json:"fingerprint"`
	FingerprintBytes int64  `json:"fingerprint_bytes"`
	// Offset is the position after the last row delivered.
	Offset int64 `json:"offset"`
	// Seen is when the file was last read. Positions of files not read for
	// longer than max(24h, ArchiveMaxAge+1h) are forgotten.
	Seen time.Time `json:"seen"`
}

func validPosition(p Position) bool {
	if p.FingerprintBytes <= 0 || p.FingerprintBytes > FingerprintBytes || p.Offset < 0 || len(p.Fingerprint) != 2*sha256.Size {
		return false
	}
	// A fingerprint shorter than FingerprintBytes covers every byte read.
	if p.FingerprintBytes < FingerprintBytes && p.Offset > p.FingerprintBytes {
		return false
	}
	_, err := hex.DecodeString(p.Fingerprint)
	return err == nil
}
func fingerprint(prefix []byte) string {
	sum := sha256.Sum256(prefix)
	return hex.EncodeToString(sum[:])
}

// forgetAfter is how long positions of files no longer read are kept.
func (s *Source) forgetAfter() time.Duration {
	return max(24*time.Hour, s.cfg.ArchiveMaxAge+time.Hour)
}

// Positions returns where each known file stands: the files being read,
// those read to their end, and saved positions no file has matched yet
// (a share may come back). It may be called from any goroutine; see
// Checkpoint for taking it together with what the handler did.
func (s *Source) Positions() []Position {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	var out []Position
	for _, lp := range s.live {
		if p, ok := lp.cur.position(now); ok {
			out = append(out, p)
		}
	}
	for _, fl := range s.reading {
		if p, ok := fl.position(now); ok {
			out = append(out, p)
		}
	}
	out = append(out, s.done...)
	out = append(out, s.pending...)
	return out
}

func (s *Source) pruneLocked(now time.Time) {
	if !s.following {
		return // saved positions wait for the files found at start
	}
	cutoff := now.Add(-s.forgetAfter())
	old := func(p Position) bool { return p.Seen.Before(cutoff) }
	s.done = slices.DeleteFunc(s.done, old)
	s.pending = slices.DeleteFunc(s.pending, old)
}

// matchLocked looks prefix (a file's first bytes) up among the saved
// positions and the files read to their end. It returns the offset to go
// on from, and whether a position matched; a matched position is taken out:
// the caller puts the file in its place before it unlocks s.mu.
func (s *Source) matchLocked(prefix []byte) (int64, bool) {
	sums := make(map[int64]string)
	sum := func(n int64) string {
		if _, ok := sums[n]; !ok {
			sums[n] = fingerprint(prefix[:n])
		}
		return sums[n]
	}
	best, bestIdx, bestDone := Position{}, -1, false
	consider := func(list []Position, done bool) {
		for i, p := range list {
			if p.FingerprintBytes > int64(len(prefix)) || sum(p.FingerprintBytes) != p.Fingerprint {
				continue
			}
			if bestIdx < 0 || p.FingerprintBytes > best.FingerprintBytes ||
				p.FingerprintBytes == best.FingerprintBytes && p.Offset > best.Offset {
				best, bestIdx, bestDone = p, i, done
			}
		}
	}
	consider(s.pending, false)
	consider(s.done, true)
	if bestIdx < 0 {
		return 0, false
	}
	if bestDone {
		s.done = slices.Delete(s.done, bestIdx, bestIdx+1)
	} else {
		s.pending = slices.Delete(s.pending, bestIdx, bestIdx+1)
	}
	return best.Offset, true
}

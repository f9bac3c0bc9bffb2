package state

import (
	"unicode"
	"unicode/utf8"
)

// serverKey case-folds a host name into keyBuf and returns it for a map
// lookup; string(keyBuf) in an index expression does not allocate.
func (s *State) serverKey(name string) string {
	s.keyBuf = foldCase(s.keyBuf[:0], name)
	return unsafeString(s.keyBuf)
}

// userKey case-folds DIR\userid into keyBuf, as serverKey does.
func (s *State) userKey(directory, userID string) string {
	return unsafeString(s.userKeyBytes(directory, userID))
}

func (s *State) userKeyBytes(directory, userID string) []byte {
	s.keyBuf = foldCase(s.keyBuf[:0], directory)
	s.keyBuf = append(s.keyBuf, '\\')
	s.keyBuf = foldCase(s.keyBuf, userID)
	return s.keyBuf
}

// foldCase appends s in lower case to dst. Windows compares directory and
// user names case-insensitively, and so do we.
func foldCase(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			for _, r := range s[i:] {
				dst = utf8.AppendRune(dst, unicode.ToLower(r))
			}
			return dst
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

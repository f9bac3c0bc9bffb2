package auditlog

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// trimLine returns line without a leading UTF-8 byte order mark and without
// its line end (any trailing CR and LF), as a string that aliases line.
func trimLine(line []byte) string {
	if len(line) == 0 {
		return ""
	}
	s := unsafe.String(&line[0], len(line)) //nolint:gosec // G103: a zero-copy view of the line, documented as aliasing it
	s = strings.TrimPrefix(s, "\ufeff")
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// checkField returns ReasonNotUTF8 or ReasonControl if s is not valid UTF-8
// or holds a control character (C0, DEL or C1), else ReasonNone.
func checkField(s string) string {
	// Skip eight bytes at a time while they are printable ASCII (0x20 to
	// 0x7e); the loop below looks at the rest byte by byte.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8)) //nolint:gosec // G103: reads eight bytes of s in place, i+8 <= len(s)
		del := w ^ (0x7f * ones)
		// A byte is flagged if it has its high bit set, is below 0x20 or is
		// 0x7f (the classic "has less than" and "has zero" bit tricks).
		if (w|(w-0x20*ones)|((del-ones)&^del))&highs != 0 {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return ReasonControl
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return ReasonNotUTF8
		}
		if r <= 0x9f { // C1 controls, U+0080 to U+009F
			return ReasonControl
		}
		i += size
	}
	return ReasonNone
}

// trimSpace is strings.TrimSpace with a shortcut for the usual field that
// starts and ends with a printable ASCII character.
func trimSpace(s string) string {
	if s == "" || s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf {
		return s
	}
	return strings.TrimSpace(s)
}

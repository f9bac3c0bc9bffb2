package state

import "unsafe"

// unsafeString views b as a string without copying. The result is valid only
// until b changes: use it for map lookups, never store it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b)) //nolint:gosec // G103: a zero-copy view for map lookups, never stored
}

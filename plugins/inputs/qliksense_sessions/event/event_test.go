package event

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// HasControl is unicode.IsControl over a name's runes (C0, DEL, C1),
// byte by byte.
func TestHasControl(t *testing.T) {
	for r := rune(0); r < 0x3000; r++ {
		name := "a" + string(r) + "b"
		if got, want := HasControl(name), unicode.IsControl(r); got != want {
			t.Errorf("HasControl(%q) = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"", "LAB", `LAB\anna`, "émile", "日本", string(utf8.RuneError)} {
		if HasControl(name) {
			t.Errorf("HasControl(%q) = true", name)
		}
	}
}

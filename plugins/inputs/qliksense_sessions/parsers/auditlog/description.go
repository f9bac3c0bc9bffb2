package auditlog

import (
	"strings"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// parseDescription returns the Command= and Result= values of a Description
// such as "Command=Stop session;Result=0;ResultText=Success" (keys ignoring
// ASCII case, values trimmed). ResultText ends the parse: its text may hold
// ';' and '='. Parts without '=' are skipped.
func parseDescription(d string) (command, result string) {
	for d != "" {
		part, rest, _ := strings.Cut(d, ";")
		d = rest
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		switch {
		case event.EqualFoldASCII(key, "ResultText"):
			return command, result
		case event.EqualFoldASCII(key, "Command"):
			command = strings.TrimSpace(value)
		case event.EqualFoldASCII(key, "Result"):
			result = strings.TrimSpace(value)
		}
	}
	return command, result
}

// parseResult reads a return code: an optional sign and decimal digits. It
// reports whether the code is 0 and whether it is an integer at all.
func parseResult(s string) (zero, ok bool) {
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false, false
	}
	zero = true
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false, false
		}
		zero = zero && s[i] == '0'
	}
	return zero, true
}

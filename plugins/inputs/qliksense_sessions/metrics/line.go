package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// AppendEventLine appends EventMetric's metric to dst as one line of line
// protocol, byte for byte as Telegraf's influx serializer writes that
// metric with its fields sorted by key (influx_sort_fields; unsorted, it
// writes them in the random order of the metric's map), without building
// the metric: per event, building and serialising it cost more than the
// state. TestEventLineIsTheSerializers and FuzzEventLine hold it to that.
// Unlike EventMetric's, ev's strings may alias a reused buffer.
func AppendEventLine(dst []byte, ev *event.Event, activeUsers int, withMessage bool, at time.Time) []byte {
	dst = append(dst, Event...)
	dst = appendTag(dst, "event", ev.Command.EventName())
	dst = appendTag(dst, "server", ev.Server)
	dst = appendTag(dst, "user_directory", ev.Directory)
	dst = append(dst, " active_users="...)
	dst = append(strconv.AppendInt(dst, int64(activeUsers), 10), 'i')
	if appID := event.AppID(ev.Context); appID != "" {
		dst = appendStringField(dst, ",app_id=", appID, false)
	}
	if ev.Context != "" {
		dst = appendStringField(dst, ",context=", ev.Context, false)
	}
	if withMessage && ev.Message != "" {
		dst = appendStringField(dst, ",message=", ev.Message, true)
	}
	if ev.Origin != "" {
		dst = appendStringField(dst, ",origin=", ev.Origin, false)
	}
	if ev.Command == event.StopSession && ev.Duration > 0 {
		dst = append(dst, ",session_duration_s="...)
		dst = strconv.AppendFloat(dst, ev.Duration.Seconds(), 'f', -1, 64)
	}
	// user is DIRECTORY\userid (UserName), written without building it.
	dst = append(dst, `,user="`...)
	dst = appendStringValue(dst, ev.Directory, false)
	dst = append(dst, `\\`...)
	dst = appendStringValue(dst, ev.UserID, false)
	dst = append(dst, '"')
	dst = appendStringField(dst, ",user_id=", ev.UserID, false)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, at.UnixNano(), 10)
	return append(dst, '\n')
}

// The bytes the influx serializer escapes in tag values, in string fields,
// and those OneLine folds too: tables, since strings.ContainsAny builds its
// set anew on every call, seven times a line.
var (
	tagEscapes      = byteSet("\t\n\f\r ,=")
	fieldEscapes    = byteSet(`"\`)
	oneLineSpecials = byteSet("\"\\\r\n\t")
)

func byteSet(chars string) *[256]bool {
	var set [256]bool
	for i := 0; i < len(chars); i++ {
		set[chars[i]] = true
	}
	return &set
}

// containsAny tells whether s holds a byte of set.
func containsAny(s string, set *[256]bool) bool {
	for i := 0; i < len(s); i++ {
		if set[s[i]] {
			return true
		}
	}
	return false
}

// appendTag appends ",key=value" as the influx serializer writes a tag: its
// value escaped, trailing backslashes cut (escaping ends in none of its
// own), and nothing for a value left empty.
func appendTag(dst []byte, key, value string) []byte {
	value = strings.TrimRight(value, `\`)
	if value == "" {
		return dst
	}
	dst = append(dst, ',')
	dst = append(dst, key...)
	dst = append(dst, '=')
	if !containsAny(value, tagEscapes) {
		return append(dst, value...)
	}
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\t':
			dst = append(dst, `\t`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\r':
			dst = append(dst, `\r`...)
		case ' ', ',', '=':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendStringField appends a string field, prefix being ",key=".
func appendStringField(dst []byte, prefix, value string, oneLine bool) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, '"')
	return append(appendStringValue(dst, value, oneLine), '"')
}

// appendStringValue appends a string field's value as the influx serializer
// writes it, quotes and backslashes escaped, and with oneLine as OneLine
// makes it.
func appendStringValue(dst []byte, value string, oneLine bool) []byte {
	special := fieldEscapes
	if oneLine {
		special = oneLineSpecials
	}
	if !containsAny(value, special) {
		return append(dst, value...)
	}
	return appendValue(dst, value, oneLine, true)
}

// appendValue appends value, with oneLine each run of CR, LF and tabs as one
// space, with escape a backslash before each quote and backslash (the two
// commute: they touch different bytes).
func appendValue(dst []byte, value string, oneLine, escape bool) []byte {
	run := false
	for i := 0; i < len(value); i++ {
		c := value[i]
		if oneLine && (c == '\r' || c == '\n' || c == '\t') {
			if !run {
				dst = append(dst, ' ')
			}
			run = true
			continue
		}
		run = false
		if escape && (c == '"' || c == '\\') {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return dst
}

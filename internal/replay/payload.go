package replay

import (
	"fmt"
	"strconv"
	"time"
)

// encoder renders an event as a datagram payload, appending to dst.
type encoder func(dst []byte, ev *Event, stamp time.Time) []byte

func encoderFor(format string) (encoder, error) {
	switch format {
	case "sos":
		return markerEncoder("/qseow-proxy-session/", "/qseow-proxy-connection/"), nil
	case "butler":
		return markerEncoder("/proxy-session/", "/proxy-connection/"), nil
	case "legacy":
		return encodeLegacy, nil
	}
	return nil, fmt.Errorf("format %q: want sos, butler or legacy", format)
}

// AppendPayload appends an event in a format ("sos", "butler" or "legacy")
// to dst. A non-zero stamp adds " sent=<Unix ns>" to the message (marker
// formats only: the legacy format has no message).
func AppendPayload(dst []byte, format string, ev *Event, stamp time.Time) ([]byte, error) {
	enc, err := encoderFor(format)
	if err != nil {
		return dst, err
	}
	return enc(dst, ev, stamp), nil
}

// markerEncoder writes the eight-field formats: the session marker for
// session commands, the connection marker for connection commands.
func markerEncoder(sessionMarker, connectionMarker string) encoder {
	return func(dst []byte, ev *Event, stamp time.Time) []byte {
		marker := sessionMarker
		if ev.Command == "Open connection" || ev.Command == "Close connection" {
			marker = connectionMarker
		}
		for _, field := range []string{marker, ev.Server, ev.Command, ev.Directory, ev.UserID, "AppAccess", ev.Context} {
			dst = append(dst, field...)
			dst = append(dst, ';')
		}
		dst = append(dst, ev.Message...)
		if !stamp.IsZero() {
			dst = append(dst, " sent="...)
			dst = strconv.AppendInt(dst, stamp.UnixNano(), 10)
		}
		return dst
	}
}

// encodeLegacy writes Butler 1.x-4.x's host;command;directory;user.
func encodeLegacy(dst []byte, ev *Event, _ time.Time) []byte {
	for i, field := range []string{ev.Server, ev.Command, ev.Directory, ev.UserID} {
		if i > 0 {
			dst = append(dst, ';')
		}
		dst = append(dst, field...)
	}
	return dst
}

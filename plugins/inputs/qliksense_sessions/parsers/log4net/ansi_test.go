package log4net

// DecodeANSI: the legacy appender of Butler 1.x-4.x sets no encoding, so
// log4net's UdpAppender sends Encoding.Default, the ANSI code page of the
// proxy's Windows (Windows-1252 on western systems). The plugin decodes a
// payload that is not UTF-8 as Windows-1252 before it parses it.

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// cp1252High is Windows-1252's 0x80-0x9F as Microsoft's table
// (unicode.org/Public/MAPPINGS/VENDORS/MICSFT/WINDOWS/CP1252.TXT) has it,
// written out by hand so that the test does not check x/text against
// itself; 0 marks the five bytes without a character. 0x00-0x7F are ASCII
// and 0xA0-0xFF are Latin-1 (U+00A0-U+00FF).
var cp1252High = [32]rune{
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
}

// cp1252 returns the character of byte c, false for the undefined five.
func cp1252(c byte) (rune, bool) {
	if c >= 0x80 && c < 0xA0 {
		r := cp1252High[c-0x80]
		return r, r != 0
	}
	return rune(c), true
}

func TestDecodeANSI(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    string
		ok      bool
	}{
		{name: "legacy start of jörg", payload: "SENSE1;Start session;LAB;j\xF6rg", want: "SENSE1;Start session;LAB;jörg", ok: true},
		{name: "umlauts and sharp s", payload: "SENSE1;Stop session;M\xDCNCHEN;J\xFCrgen.Wei\xDF", want: "SENSE1;Stop session;MÜNCHEN;Jürgen.Weiß", ok: true},
		{name: "euro sign at 0x80", payload: "\x80", want: "€", ok: true},
		{name: "the other 0x8x and 0x9x characters",
			payload: "\x82\x83\x84\x85\x86\x87\x88\x89\x8A\x8B\x8C\x8E\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9A\x9B\x9C\x9E\x9F",
			want:    "‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ", ok: true},
		{name: "Latin-1 range", payload: "\xA0\xA9\xC5\xE6\xF8\xFF", want: "\u00a0©Åæøÿ", ok: true},
		{name: "ASCII unchanged", payload: "SENSE1;Start session;LAB;anna", want: "SENSE1;Start session;LAB;anna", ok: true},
		{name: "ASCII controls pass through", payload: "a\x00\x1f\x7f", want: "a\x00\x1f\x7f", ok: true},
		{name: "empty", payload: "", want: "", ok: true},
		{name: "UTF-8 bytes are read as ANSI", payload: "J\xC3\xB6rg", want: "JÃ¶rg", ok: true},
		{name: "0x81 has no character", payload: "SENSE1;Start session;LAB;\x81", ok: false},
		{name: "0x8D has no character", payload: "\x8D", ok: false},
		{name: "0x8F has no character", payload: "a\x8Fb", ok: false},
		{name: "0x90 has no character", payload: "SENSE1;Start session;LAB;j\xF6rg\x90", ok: false},
		{name: "0x9D has no character", payload: "\x9Dj\xF6rg", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DecodeANSI(nil, []byte(tt.payload))
			require.Equal(t, tt.ok, ok)
			if ok {
				require.Equal(t, tt.want, string(got))
				require.True(t, utf8.Valid(got))
			}
		})
	}
}

// TestDecodeANSIEveryByte compares each of the 256 bytes with Microsoft's
// table.
func TestDecodeANSIEveryByte(t *testing.T) {
	undefined := 0
	for b := 0; b < 256; b++ {
		want, defined := cp1252(byte(b))
		got, ok := DecodeANSI(nil, []byte{byte(b)})
		require.Equal(t, defined, ok, "byte %#02x", b)
		if !defined {
			undefined++
			continue
		}
		require.Equal(t, string(want), string(got), "byte %#02x", b)
	}
	require.Equal(t, 5, undefined) // 0x81, 0x8D, 0x8F, 0x90, 0x9D
}

// TestDecodeANSIAppends pins that the text is appended to dst, as the
// plugin reuses one buffer.
func TestDecodeANSIAppends(t *testing.T) {
	dst := []byte("kept:")
	got, ok := DecodeANSI(dst, []byte("j\xF6rg"))
	require.True(t, ok)
	require.Equal(t, "kept:jörg", string(got))

	buf := make([]byte, 0, 64)
	got, ok = DecodeANSI(buf[:0], []byte("\x80"))
	require.True(t, ok)
	require.Equal(t, "€", string(got))
	require.Equal(t, &buf[:1][0], &got[0], "a buffer with room is reused")
}

// TestDecodedLegacyPayloads runs ANSI payloads through what the plugin does:
// Parse says not UTF-8, DecodeANSI decodes, Parse reads the user.
func TestDecodedLegacyPayloads(t *testing.T) {
	tests := []struct {
		payload string
		status  event.Status
		reason  string
		event   event.Event
	}{
		{payload: "SENSE1;Start session;LAB;j\xF6rg", event: event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "jörg"}},
		{payload: "SENSE1;Stop session;M\xDCNCHEN;J\xFCrgen.Wei\xDF",
			event: event.Event{Server: "SENSE1", Command: event.StopSession, Directory: "MÜNCHEN", UserID: "Jürgen.Weiß"}},
		{payload: "SENSE1;Open connection;LAB;Fran\xE7ois\r\n",
			event: event.Event{Server: "SENSE1", Command: event.OpenConnection, Directory: "LAB", UserID: "François"}},
		{payload: "SENSE1;Start session;LAB;\x80uro", event: event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "€uro"}},
		// Windows-1252 0x85 is an ellipsis, not the C1 control NEL.
		{payload: "SENSE1;Start session;LAB;wait\x85", event: event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "wait…"}},
		// 0xA0 is a non-breaking space: trimmed around a field.
		{payload: "SENSE1;Start session;LAB;\xA0j\xF6rg\xA0",
			event: event.Event{Server: "SENSE1", Command: event.StartSession, Directory: "LAB", UserID: "jörg"}},
		{payload: "S\xC9NSE1;Start session;LAB;j\xF6rg", status: Malformed, reason: ReasonBadServer},
		{payload: "SENSE1;L\xF6gin;LAB;j\xF6rg", status: Ignored, reason: ReasonUnknownCommand},
		{payload: "SENSE1;Start session;LAB;j\xF6rg\x00", status: Malformed, reason: ReasonControl},
	}
	for _, tt := range tests {
		var ev event.Event
		status, reason := Parse([]byte(tt.payload), &ev)
		require.Equal(t, Malformed, status, "%q", tt.payload)
		require.Equal(t, ReasonNotUTF8, reason, "%q", tt.payload)

		text, ok := DecodeANSI(nil, []byte(tt.payload))
		require.True(t, ok, "%q", tt.payload)
		status, reason = Parse(text, &ev)
		require.Equal(t, tt.status, status, "%q: %s", tt.payload, reason)
		require.Equal(t, tt.reason, reason, "%q", tt.payload)
		if status == Accepted {
			require.Equal(t, tt.event, ev, "%q", tt.payload)
		}
		refStatus, refEvent := referenceParse(text)
		require.Equal(t, tt.status, refStatus, "%q: reference parser", tt.payload)
		if status == Accepted {
			require.Equal(t, tt.event, refEvent, "%q: reference parser", tt.payload)
		}
	}
}

func TestDecodeANSIDoesNotAllocate(t *testing.T) {
	payload := []byte("/proxy-session/;SENSE1;Start session;M\xDCNCHEN;J\xFCrgen.Wei\xDF;AppAccess;/hub/;" +
		"Start session for user 'M\xDCNCHEN\\J\xFCrgen.Wei\xDF'")
	buf := make([]byte, 0, 4*len(payload))
	var ev event.Event
	require.Zero(t, testing.AllocsPerRun(100, func() {
		text, ok := DecodeANSI(buf[:0], payload)
		if !ok {
			panic("not decoded")
		}
		Parse(text, &ev)
	}))
}

// FuzzDecodeANSI checks DecodeANSI against the table: it fails exactly when
// a byte has no character, and else gives one character per byte, valid
// UTF-8, appended after what dst held.
func FuzzDecodeANSI(f *testing.F) {
	for _, s := range sampleFile(f, "real-shaped.txt") {
		f.Add([]byte(s.payload))
	}
	f.Add([]byte("SENSE1;Start session;LAB;j\xF6rg"))
	f.Add([]byte("\x80\x81\x8D\x8F\x90\x9D\xFF"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		original := bytes.Clone(payload)
		got, ok := DecodeANSI([]byte("dst"), payload)
		require.Equal(t, original, payload, "DecodeANSI changed its payload")
		var want []byte
		defined := true
		for _, c := range payload {
			r, ok := cp1252(c)
			if !ok {
				defined = false
				break
			}
			want = utf8.AppendRune(want, r)
		}
		require.Equal(t, defined, ok, "%q", payload)
		if ok {
			require.Equal(t, "dst"+string(want), string(got), "%q", payload)
			require.Equal(t, len(payload), utf8.RuneCount(got)-3)
		}
	})
}

func BenchmarkDecodeANSI(b *testing.B) {
	payload := []byte("SENSE01;Start session;M\xDCNCHEN;J\xFCrgen.Wei\xDF")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = DecodeANSI(buf[:0], payload)
	}
}

// Package shimlog makes an execd plugin's log lines what Telegraf's
// inputs.execd expects on stderr: one line per message, starting with its
// level indicator (E!, W!, I!, D!, T!), so that Telegraf logs it at that level.
//
// Telegraf's logger package, as the shim uses it, instead prefixes a
// timestamp (so execd logs every line as an error) and, until SetupLogging is
// called, keeps every message in memory for ever.
package shimlog

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/logger"
)

// Setup sends the messages of every Telegraf logger at or above level to w
// as "<indicator> [<source>] <message>" lines and stops the default handler
// from printing or keeping them. It returns a function that undoes the
// callback registration.
func Setup(w io.Writer, level telegraf.LogLevel) (func(), error) {
	// A redirecting handler has a sink, so the logger no longer buffers early
	// messages; its own output, timestamps and all, goes nowhere.
	logger.RedirectLogging(io.Discard)

	var mu sync.Mutex
	id, err := logger.AddCallback(func(l telegraf.LogLevel, _ time.Time, source string, _ map[string]interface{}, args ...interface{}) {
		if !level.Includes(l) {
			return
		}
		line := Format(l, source, fmt.Sprint(args...))
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, line) //nolint:errcheck // nowhere left to report a failed log write
	})
	if err != nil {
		return nil, fmt.Errorf("registering the log callback failed: %w", err)
	}
	return func() { logger.RemoveCallback(id) }, nil
}

// Format renders one message as a single execd stderr line.
func Format(level telegraf.LogLevel, source, msg string) string {
	// A line break would start a line without an indicator, which execd would
	// log as an error; keep each message on one line.
	msg = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(msg)
	if source != "" {
		return level.Indicator() + " [" + source + "] " + msg + "\n"
	}
	return level.Indicator() + " " + msg + "\n"
}

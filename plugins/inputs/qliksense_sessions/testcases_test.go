package qliksense_sessions

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	serializers_influx "github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testcases/*/expected.out from the plugin's output (review the diff!)")

// TestCases runs each folder of testcases/: its datagrams.txt through the
// plugin its telegraf.conf configures, then a gather, against expected.out.
func TestCases(t *testing.T) {
	folders, err := os.ReadDir("testcases")
	require.NoError(t, err)
	require.NotEmpty(t, folders)

	for _, f := range folders {
		if !f.IsDir() {
			continue
		}
		t.Run(f.Name(), func(t *testing.T) {
			dir := filepath.Join("testcases", f.Name())
			cfg := config.NewConfig()
			require.NoError(t, cfg.LoadConfig(filepath.Join(dir, "telegraf.conf")))
			require.Len(t, cfg.Inputs, 1)
			plugin := cfg.Inputs[0].Input.(*QlikSenseSessions)
			plugin.ServiceAddress = "udp://127.0.0.1:0"
			plugin.Periods = false // their points carry the wall clock's hours
			plugin.Log = testutil.Logger{}

			payloads := readPayloads(t, filepath.Join(dir, "datagrams.txt"))
			var acc testutil.Accumulator
			conn := startPlugin(t, plugin, &acc)
			for _, p := range payloads {
				_, err := conn.Write(p)
				require.NoError(t, err)
			}
			waitForDatagrams(t, plugin, uint64(len(payloads)))
			require.NoError(t, plugin.Gather(&acc))
			actual := acc.GetTelegrafMetrics()
			// A session's duration over UDP is the time between datagrams:
			// the test's pace, which varies. It is 1 s here when it was set;
			// the state's tests pin the values.
			for _, m := range actual {
				if d, ok := m.GetField("session_duration_s"); ok {
					require.Greater(t, d, 0.0)
					m.AddField("session_duration_s", 1.0)
				}
				zeroSecondsSinceLastEvent(t, m)
			}

			expectedFile := filepath.Join(dir, "expected.out")
			if *update {
				writeMetrics(t, expectedFile, actual)
			}
			parser := &influx.Parser{}
			require.NoError(t, parser.Init())
			expected, err := testutil.ParseMetricsFromFile(expectedFile, parser)
			require.NoError(t, err)
			testutil.RequireMetricsEqual(t, expected, actual, testutil.IgnoreTime())
		})
	}
}

// readPayloads reads one datagram per line; blank lines and lines starting
// with # are comments. A line that starts with '"' is a Go string literal
// (strconv.Unquote), for bytes a line cannot hold: ANSI bytes, controls,
// CR and LF (testdata/datagrams/README.md).
func readPayloads(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var payloads [][]byte
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(nil, 1<<20)
	for n := 1; scanner.Scan(); n++ {
		line := scanner.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, `"`) {
			unquoted, err := strconv.Unquote(line)
			require.NoError(t, err, "%s:%d: a line that starts with '\"' must be a Go string literal", path, n)
			line = unquoted
		}
		payloads = append(payloads, []byte(line))
	}
	require.NoError(t, scanner.Err())
	return payloads
}

func writeMetrics(t *testing.T, path string, metrics []telegraf.Metric) {
	t.Helper()
	serializer := &serializers_influx.Serializer{SortFields: true}
	require.NoError(t, serializer.Init())
	var buf bytes.Buffer
	for _, m := range metrics {
		m = m.Copy()
		m.SetTime(time.Time{})
		line, err := serializer.Serialize(m)
		require.NoError(t, err)
		// Expectations carry no timestamps.
		buf.Write(bytes.TrimSuffix(bytes.TrimRight(line, "\n"), []byte(" -6795364578871345152")))
		buf.WriteByte('\n')
	}
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644)) //nolint:gosec // G306: a checked-in expected output, readable like the others
}

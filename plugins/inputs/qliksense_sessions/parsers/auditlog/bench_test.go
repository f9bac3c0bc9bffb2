package auditlog

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

// documentedHeader is the header of a proxy audit activity log as Qlik
// documents its columns.
const documentedHeader = "Sequence#\tProductVersion\tTimestamp\tHostname\tId\tDescription\tProxySessionId\tProxyPackageId\tRequestSequenceId\t" +
	"UserDirectory\tUserId\tObjectId\tObjectName\tService\tOrigin\tContext\tCommand\tResult\tMessage\tId2"

const benchUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// benchRow writes one row of the documented columns.
//
//nolint:revive // argument-limit: a benchmark helper, one argument per varying column
func benchRow(w io.Writer, seq int, t time.Time, host, command, result, sessionID, dir, user, context, message string) {
	id := fmt.Sprintf("%08x-1b2c-4d5e-8f90-%012x", seq, seq*7919)
	fmt.Fprintf(w,
		"%d\t13.21.1.0\t%s\t%s\t%s\tCommand=%s;Result=%s;"+
			"ResultText=Success\t%s\t0\t0\t%s\t%s\tNot available\tNot available\tProxy\tAppAccess\t%s\t%s\t%s\t%s\t%s\r\n",
		seq, t.Format("20060102T150405.000-0700"), host, id, command, result, sessionID, dir, user, context, command, result, message, id)
}

func BenchmarkParse(b *testing.B) {
	h, err := ParseHeader([]byte("\ufeff" + documentedHeader + "\r\n"))
	if err != nil {
		b.Fatal(err)
	}
	descOnly, err := ParseHeader([]byte("Timestamp\tHostname\tDescription\tProxySessionId\tUserDirectory\tUserId\tOrigin\tContext\tMessage\r\n"))
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2019, 2, 28, 10, 10, 10, 123e6, time.FixedZone("", 3600))
	row := func(command, result, context, message string) []byte {
		var sb strings.Builder
		benchRow(&sb, 123456, at, "qs-proxy-01.corp.example.com", command, result, "2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01", "CORP", "user000123", context,
			message)
		return []byte(sb.String())
	}
	const app = "/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d"
	rows := []struct {
		name string
		h    *Header
		line []byte
	}{
		{"start_session", h, row("Start session", "0", "/hub/", `Start session for user 'CORP\user000123'`)},
		{"open_connection_user_agent", h, row("Open connection", "0",
			app+"?reloadUri=https://qs-proxy-01.corp.example.com/sense/app/6a0b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d",
			"connection Opened for session '2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01'; UserAgent: '"+benchUserAgent+"'")},
		{"description_only", descOnly,
			[]byte("20190228T101010.123+01:00\tSENSE1\tCommand=Stop session;Result=0;" +
				"ResultText=Success\t2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01\tLAB\tanna\tAppAccess\t/hub/\tStop session for user 'LAB\\anna'\r\n")},
		{"ignored_failed", h, row("Start session", "403", "/hub/", "Access denied")},
		{"ignored_other_command", h, row("Login", "0", "/hub/", "Login")},
	}
	for _, r := range rows {
		b.Run(r.name, func(b *testing.B) {
			var ev event.Event
			b.SetBytes(int64(len(r.line)))
			b.ReportAllocs()
			for b.Loop() {
				r.h.Parse(r.line, &ev)
			}
		})
	}
	b.Run("is_header_on_a_data_row", func(b *testing.B) {
		line := rows[1].line
		b.ReportAllocs()
		for b.Loop() {
			IsHeader(line)
		}
	})
}

// writeBenchFile writes about size bytes of a proxy audit activity log: a
// header with a byte order mark, then a day of sessions of 2,000 users on
// 3 proxies (starts, connections opened and closed, stops, now and then a
// failed start or another command), CR LF line ends.
func writeBenchFile(w *bufio.Writer, size int) (rows int) {
	rng := rand.New(rand.NewPCG(12, 2026))
	n, _ := w.WriteString("\ufeff" + documentedHeader + "\r\n") //nolint:errcheck // a bufio.Writer keeps its error; the count is what matters here
	written := n
	at := time.Date(2019, 2, 28, 7, 0, 0, 0, time.FixedZone("", 3600))
	hosts := []string{"qs-proxy-01.corp.example.com", "qs-proxy-02.corp.example.com", "qs-proxy-03.corp.example.com"}
	var sb strings.Builder
	for seq := 1; written < size; seq++ {
		at = at.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		user := fmt.Sprintf("user%04d", rng.IntN(2000))
		sessionID := fmt.Sprintf("%08x-7d35-4c38-a7a2-%012x", rng.Uint32(), rng.Uint64()&(1<<48-1))
		host := hosts[rng.IntN(len(hosts))]
		app := fmt.Sprintf("/app/%08x-3e4f-4a5b-8c7d-9e0f1a2b3c4d", rng.IntN(50))
		sb.Reset()
		switch k := rng.IntN(20); {
		case k < 4:
			benchRow(&sb, seq, at, host, "Start session", "0", sessionID, "CORP", user, "/hub/", "Start session for user 'CORP\\"+user+"'")
		case k < 8:
			benchRow(&sb, seq, at, host, "Stop session", "0", sessionID, "CORP", user, "/hub/", "Stop session for user 'CORP\\"+user+"'")
		case k < 13:
			benchRow(&sb, seq, at, host, "Open connection", "0", sessionID, "CORP", user, app+"?reloadUri=https://"+host+"/sense"+app,
				"connection Opened for session '"+sessionID+"'; UserAgent: '"+benchUserAgent+"'")
		case k < 18:
			benchRow(&sb, seq, at, host, "Close connection", "0", sessionID, "CORP", user, app, "connection Closed for session '"+sessionID+"'")
		case k < 19:
			benchRow(&sb, seq, at, host, "Start session", "403", sessionID, "CORP", user, "/hub/", "Access denied")
		default:
			benchRow(&sb, seq, at, host, "Login", "0", "0", "INTERNAL", "sa_repository", "/qrs/", "Internal system command")
		}
		n, _ := w.WriteString(sb.String()) //nolint:errcheck // a bufio.Writer keeps its error; the count is what matters here
		written += n
		rows++
	}
	return rows
}

// BenchmarkFile reads an 8 MB log from disk as a file source does: bufio,
// ParseHeader on the first row, Parse on every other. It reports rows/s
// (the target: at least 250,000 rows/s on two cores).
func BenchmarkFile(b *testing.B) {
	const size = 8 << 20
	path := filepath.Join(b.TempDir(), "QS-PROXY-01_AuditActivity_Proxy.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	rows := writeBenchFile(w, size)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}

	b.SetBytes(info.Size())
	b.ReportAllocs()
	var accepted, total int
	start := time.Now()
	for b.Loop() {
		accepted, total = readLog(b, path)
	}
	elapsed := time.Since(start)
	if total != rows {
		b.Fatalf("read %d rows, wrote %d", total, rows)
	}
	b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(total)/float64(b.N), "ns/row")
	b.ReportMetric(float64(accepted), "accepted/file")
	b.ReportMetric(float64(total), "rows/file")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

// readLog reads a log file the way the package documentation describes,
// and returns how many data rows it read and accepted.
func readLog(tb testing.TB, path string) (accepted, rows int) {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 256<<10), 16<<20)
	var h *Header
	var ev event.Event
	for scanner.Scan() {
		line := scanner.Bytes()
		if h != nil {
			status, reason := h.Parse(line, &ev)
			if reason != ReasonHeader {
				rows++
				if status == Accepted {
					accepted++
				}
				continue
			}
		}
		if h, err = ParseHeader(line); err != nil {
			tb.Fatal(err)
		}
	}
	if err := scanner.Err(); err != nil {
		tb.Fatal(err)
	}
	return accepted, rows
}

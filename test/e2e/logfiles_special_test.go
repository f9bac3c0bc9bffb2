//go:build e2e && !windows

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditHeader is the header row of a proxy audit activity log, as Qlik
// writes it (a byte order mark, CR LF).
const auditHeader = "\ufeffSequence#\tProductVersion\tTimestamp\tHostname\tId\tDescription\tProxySessionId\tProxyPackageId\tRequestSequenceId\t" +
	"UserDirectory\tUserId\tObjectId\tObjectName\tService\tOrigin\tContext\tCommand\tResult\tMessage\tId2\r\n"

// auditRow is a "Start session" row number seq of host for LAB\user, at
// the time at.
func auditRow(seq int, host, user string, at time.Time) string {
	return fmt.Sprintf("%d\t14.5.1.0\t%s\t%s\t%08x-1b2c-4d5e-8f90-a1b2c3d40001\tCommand=Start session;Result=0;ResultText=Success\t"+
		"%08x-7d35-4c38-a7a2-0a6f5b3e9d01\t0\t0\tLAB\t%s\tNot available\tNot available\tProxy\tAppAccess\t/hub/\tStart session\t0\t"+
		"Start session for user 'LAB\\%s'\t%08x-1b2c-4d5e-8f90-a1b2c3d40001\r\n",
		seq, at.Format("20060102T150405.000-0700"), host, seq, seq, user, user, seq)
}

// TestLogFilesSkipAFIFO: a FIFO that the logfile glob matches, with no
// writer, beside a regular live file (issue 21, defect 8). The FIFO is
// skipped with a warning; the regular file's rows are read at start and
// while following; SIGTERM, or the end of stdin, ends the binary within a
// few seconds, after its final save, which holds the file's position and
// the sessions. Before, opening the FIFO blocked the source for good: no
// row, no summary, and neither SIGTERM nor stdin's end stopped the binary.
func TestLogFilesSkipAFIFO(t *testing.T) {
	bin := binDir(t)
	for _, stop := range []string{"SIGTERM", "stdin EOF"} {
		t.Run(stop, func(t *testing.T) {
			dir := t.TempDir()
			audit := filepath.Join(dir, "Audit")
			require.NoError(t, os.Mkdir(audit, 0o750))
			fifo := filepath.Join(audit, "SENSE0_AuditActivity_Proxy.txt") // read first: it sorts first
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			t.Cleanup(func() {
				// Lets a reader blocked in open(2) go on, should one be.
				if fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					syscall.Close(fd)
				}
			})
			live := filepath.Join(audit, "SENSE1_AuditActivity_Proxy.txt")
			now := time.Now().Truncate(time.Millisecond)
			require.NoError(t, os.WriteFile(live, []byte(auditHeader+auditRow(1, "SENSE1", "anna", now.Add(-time.Minute))), 0o600))
			stateFile := filepath.Join(dir, "state.json")
			conf := pluginConfig(t, dir, freeUDPPort(t), fmt.Sprintf(`  state_file = %q
  state_save_interval = "1h"
  emit_events = true
  [inputs.qliksense_sessions.logfile]
    files = [%q]
    poll_interval = "100ms"
`, stateFile, filepath.Join(audit, "*_AuditActivity_Proxy.txt")))

			p := startPlugin(t, bin, conf)
			// The row read at start: in the first summary. (Checked without
			// stopping the test, so that the stop is tried in any case.)
			assert.Eventually(t, func() bool {
				first, ok := firstSummary(t, p.snapshot())
				return ok && slices.Equal(first.site.Users, []string{`LAB\anna`})
			}, 10*time.Second, 10*time.Millisecond, "no summary with the row read at start")
			// A row written while following: an event.
			f, err := os.OpenFile(live, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString(auditRow(2, "SENSE1", "bob", now))
			require.NoError(t, err)
			require.NoError(t, f.Close())
			assert.Eventually(t, func() bool {
				for _, m := range p.snapshot() {
					if user, _ := m.GetField("user_id"); m.Name() == "qliksense_session_event" && user == "bob" {
						return true
					}
				}
				return false
			}, 10*time.Second, 10*time.Millisecond, "no event for the row written while following")
			assert.Contains(t, p.log(), "Skipping "+fifo+": it is a named pipe (FIFO), not a regular file")
			_, err = os.Stat(stateFile)
			require.ErrorIs(t, err, os.ErrNotExist, "no save before the stop (state_save_interval is 1h)")

			stopped := time.Now()
			if stop == "SIGTERM" {
				require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			} else {
				require.NoError(t, p.stdin.Close())
			}
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				t.Fatalf("the plugin still runs 5 s after %s", stop)
			}
			t.Logf("stopped %s after %s", time.Since(stopped).Round(time.Millisecond), stop)
			require.True(t, p.cmd.ProcessState.Success(), "exit status: %s", p.cmd.ProcessState)

			// The final save: both sessions, and the live file's position
			// after its last row; nothing of the FIFO.
			data, err := os.ReadFile(stateFile)
			require.NoError(t, err, "no final save")
			var saved struct {
				Sessions []struct {
					UserID string `json:"user_id"`
				} `json:"sessions"`
				LogFiles []struct {
					Path   string `json:"path"`
					Offset int64  `json:"offset"`
				} `json:"log_files"`
			}
			require.NoError(t, json.Unmarshal(data, &saved))
			users := make([]string, 0, len(saved.Sessions))
			for _, s := range saved.Sessions {
				users = append(users, s.UserID)
			}
			require.ElementsMatch(t, []string{"anna", "bob"}, users)
			info, err := os.Stat(live)
			require.NoError(t, err)
			require.Len(t, saved.LogFiles, 1)
			require.Equal(t, live, saved.LogFiles[0].Path)
			require.Equal(t, info.Size(), saved.LogFiles[0].Offset)
			require.NotContains(t, p.log(), "E! ", "an error line:\n%s", p.log())
			require.Equal(t, 1, strings.Count(p.log(), "Skipping "+fifo))
		})
	}
}

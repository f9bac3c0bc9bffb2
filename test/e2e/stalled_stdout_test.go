//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStalledStdout (issue 21, defect 12): when nothing reads the plugin's
// stdout (a wedged Telegraf) and emit_events is on, the plugin still saves
// its state every state_save_interval, and SIGTERM still ends it within a
// few seconds with a final save that holds the sessions.
func TestStalledStdout(t *testing.T) {
	bin := binDir(t)
	port, stateFile, conf := savingConfig(t, "  emit_events = true\n  max_users = 100000")

	cmd := exec.Command(filepath.Join(bin, "qliksense_sessions"), "-config", conf, "-poll_interval", "1s")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	// stdout is a pipe that nobody reads: once its buffer is full, every
	// write blocks.
	unread, stdout, err := os.Pipe()
	require.NoError(t, err)
	defer unread.Close()
	cmd.Stdout = stdout
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	stdout.Close()
	var mu sync.Mutex
	var log strings.Builder
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			mu.Lock()
			log.WriteString(scanner.Text() + "\n")
			mu.Unlock()
		}
	}()
	logged := func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck // may be gone already
		stdin.Close()
		if t.Failed() {
			t.Logf("plugin stderr:\n%s", logged())
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(logged(), "Listening for log4net datagrams") },
		30*time.Second, 10*time.Millisecond, "the plugin did not start")

	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer conn.Close()
	const sessions = 30000
	for i := 0; i < sessions; i++ {
		user := fmt.Sprintf("user%05d", i)
		_, err := fmt.Fprintf(conn, "/qseow-proxy-session/;SENSE1;Start session;LAB;%s;AppAccess;/hub/;Start session for user 'LAB\\%s'", user, user)
		require.NoError(t, err)
		if i%500 == 499 {
			time.Sleep(5 * time.Millisecond) // at a pace the socket's buffer holds
		}
	}
	sent := time.Now()

	saved := func() int {
		data, err := os.ReadFile(stateFile)
		if err != nil {
			return -1
		}
		var f struct{ Sessions []struct{ Sessions int } }
		if json.Unmarshal(data, &f) != nil {
			return -1
		}
		total := 0
		for _, s := range f.Sessions {
			total += s.Sessions
		}
		return total
	}
	require.Eventually(t, func() bool { return saved() == sessions }, 5*time.Second, 20*time.Millisecond,
		"the state file did not hold the %d sessions within 5s of the traffic (it holds %d)", sessions, saved())
	t.Logf("saved %d sessions %v after the traffic", sessions, time.Since(sent).Round(time.Millisecond))

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "the plugin did not exit cleanly after SIGTERM")
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5s after SIGTERM")
	}
	require.Equal(t, sessions, saved(), "the final save lost sessions")
	require.Contains(t, logged(), "metrics_dropped_output_blocked")
}

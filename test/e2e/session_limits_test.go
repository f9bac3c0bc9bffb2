//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lastInternal is the last qliksense_sessions_internal the plugin wrote,
// nil before its first gather.
func (p *plugin) lastInternal() map[string]interface{} {
	var fields map[string]interface{}
	for _, m := range p.snapshot() {
		if m.Name() == "qliksense_sessions_internal" {
			fields = m.Fields()
		}
	}
	return fields
}

// waitForReceived waits until a gather shows n datagrams received.
func (p *plugin) waitForReceived(t *testing.T, n int) map[string]interface{} {
	t.Helper()
	var fields map[string]interface{}
	require.Eventually(t, func() bool {
		fields = p.lastInternal()
		return fields != nil && fields["datagrams_received"] == int64(n)
	}, 60*time.Second, 20*time.Millisecond, "the plugin never showed %d datagrams received: %v", n, fields)
	return fields
}

// TestSessionIDFlood: a sender that makes session ids up for one tracked
// user, 5,000 Open connection datagrams with distinct ids of 100 bytes and
// 5,000 with distinct ids of 20 KB, makes the plugin track no more than
// max_user_sessions (100 by default) sessions; the refusal counters
// account for every other datagram; the state file holds those 100
// sessions, and the next start restores all of them.
func TestSessionIDFlood(t *testing.T) {
	bin := binDir(t)
	port, stateFile, conf := savingConfig(t, "  emit_events = false")

	first := startPluginPoll(t, bin, conf, "200ms")
	conn := dialPlugin(t, port)
	const perKind, batch = 5000, 500
	sent := 0
	for _, idLength := range []int{100, 20 * 1024} {
		for i := 0; i < perKind; i += batch {
			payloads := make([]string, 0, batch)
			for j := i; j < i+batch; j++ {
				id := fmt.Sprintf("%d-%06d-", idLength, j)
				id += strings.Repeat("f", idLength-len(id))
				payloads = append(payloads, "/qseow-proxy-connection/;SENSE1;Open connection;LAB;mallory;AppAccess;/hub/;"+
					"connection Opened for session '"+id+"'")
			}
			sendDatagrams(t, conn, payloads...)
			sent += batch
			first.waitForReceived(t, sent) // at the plugin's pace: no datagram lost
		}
	}

	internal := first.waitForReceived(t, 2*perKind)
	require.Equal(t, int64(2*perKind), internal["events_accepted"], "%v", internal)
	require.Equal(t, int64(0), internal["malformed"])
	require.Equal(t, int64(100), internal["tracked_sessions"], "the sessions stop at max_user_sessions")
	require.Equal(t, int64(1), internal["tracked_users"])
	require.Equal(t, int64(perKind-100), internal["events_refused_max_user_sessions"])
	require.Equal(t, int64(perKind), internal["events_refused_session_id_length"])
	require.Contains(t, first.log(), `Refused Open connection for LAB\mallory on SENSE1: the user has max_user_sessions = 100 sessions open`)
	require.Contains(t, first.log(), `Refused Open connection for LAB\mallory on SENSE1: a session id of 20480 bytes`)

	// The state file holds the 100 sessions, each with its id.
	var saved struct {
		Sessions []struct {
			Sessions int
			Known    []struct{ ID string }
		}
	}
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(stateFile)
		return err == nil && json.Unmarshal(data, &saved) == nil && len(saved.Sessions) == 1 && saved.Sessions[0].Sessions == 100
	}, 10*time.Second, 20*time.Millisecond, "the state file never held the 100 sessions")
	require.Len(t, saved.Sessions[0].Known, 100)
	info, err := os.Stat(stateFile)
	require.NoError(t, err)
	require.Less(t, info.Size(), int64(64<<10), "the state file grew with the refused ids")
	require.NoError(t, first.cmd.Process.Kill())
	<-first.done

	// What the plugin saved, it restores whole.
	second := startPluginPoll(t, bin, conf, "200ms")
	var restarted map[string]interface{}
	require.Eventually(t, func() bool {
		restarted = second.lastInternal()
		return restarted != nil
	}, 10*time.Second, 20*time.Millisecond, "no gather after the restart")
	require.Equal(t, int64(100), restarted["tracked_sessions"], "%s", second.log())
	require.Contains(t, second.log(), "Restored 100 sessions of 1 users")
	require.NotContains(t, second.log(), `State file "`, "no record skipped, no session id dropped")
}

package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

// The API flood: a fake proxy session API (the tests' qpstest, mutual TLS
// with certificates made at run time) whose answer changes every second,
// round the answers of floodAnswers, while the traffic lasts.
const (
	apiServer         = "hostile-api"
	apiUsers          = 3000 // users of the huge answer
	apiSessionsOfUser = 100  // each: max_user_sessions, none refused
	apiSessions       = apiUsers * apiSessionsOfUser
)

// floodAnswers are the answers the fake API rotates: 300,000 sessions,
// null (no answer: the server keeps its sessions), names with control
// characters among valid ones, {} and a truncated array.
func floodAnswers() []string {
	huge := qpstest.ManySessions(apiSessions, apiSessionsOfUser, hostileDirectory, "api")
	var control strings.Builder
	control.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			control.WriteByte(',')
		}
		// JSON escapes: the decoded names hold CR, LF and NUL.
		user := fmt.Sprintf(`api%d`, i)
		if i%2 == 1 {
			user = fmt.Sprintf(`api\r\n%s\u0000%d`, forgedLine, i)
		}
		fmt.Fprintf(&control, `{"UserDirectory":"HOSTILE","UserId":"%s","SessionId":"c%d"}`, user, i)
	}
	control.WriteByte(']')
	return []string{huge, "null", control.String(), "{}", huge[:1<<20]}
}

// fakeAPI is the running fake and its rotation.
type fakeAPI struct {
	server  *qpstest.Server
	tb      *runTB
	stop    chan struct{}
	done    sync.WaitGroup
	answers []string
}

func startFakeAPI() (api *fakeAPI, err error) {
	tb := &runTB{}
	defer func() {
		if r := recover(); r != nil {
			tb.runCleanups()
			api, err = nil, fmt.Errorf("the fake session API did not start: %v", r)
		}
	}()
	server := qpstest.NewServer(tb, map[string]string{"": "[]"})
	return &fakeAPI{server: server, tb: tb, stop: make(chan struct{}), answers: floodAnswers()}, nil
}

// flood rotates the answers every second until calm.
func (a *fakeAPI) flood() {
	a.done.Add(1)
	go func() {
		defer a.done.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			a.server.SetAnswer("", a.answers[i%len(a.answers)])
			select {
			case <-a.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// calm ends the flood: the API answers no sessions from now on.
func (a *fakeAPI) calm() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.done.Wait()
	a.server.SetAnswer("", "[]")
}

func (a *fakeAPI) close() { a.tb.runCleanups() }

// config is the plugin's proxy block for the fake.
func (a *fakeAPI) config() string {
	return fmt.Sprintf("  [[inputs.qliksense_sessions.proxy]]\n    server = %q\n    interval = \"1s\"\n", apiServer) + a.server.ConfigKeys()
}

// runTB is the testing.TB that qpstest's fake asks for, outside a test:
// its files in a temporary folder, its cleanups run by runCleanups, and a
// failure a panic that startFakeAPI turns into an error. Other methods
// are not called by the fake (the embedded nil TB would panic).
type runTB struct {
	testing.TB
	mu       sync.Mutex
	dirs     []string
	cleanups []func()
}

func (*runTB) Helper()                           {}
func (*runTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (*runTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (*runTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (*runTB) Logf(string, ...any)               {}

func (t *runTB) TempDir() string {
	dir, err := os.MkdirTemp("", "qss-soak-api-")
	if err != nil {
		panic(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dirs = append(t.dirs, dir)
	return dir
}

func (t *runTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *runTB) runCleanups() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	for _, d := range t.dirs {
		os.RemoveAll(d)
	}
	t.cleanups, t.dirs = nil, nil
}

package auditlog_test

import (
	"bufio"
	"fmt"
	"os"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/auditlog"
)

// Read a proxy audit activity log: the first row is the header; a header
// further down (the file was rotated) replaces it.
func Example() {
	f, err := os.Open("testdata/SENSE1_AuditActivity_Proxy.txt")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64<<10), 16<<20) // rows may be long
	var h *auditlog.Header
	var ev event.Event
	counts := map[event.Status]int{}
	for scanner.Scan() {
		line := scanner.Bytes()
		if h != nil {
			status, reason := h.Parse(line, &ev)
			if reason != auditlog.ReasonHeader {
				counts[status]++
				if status == auditlog.Accepted && ev.Command == event.StartSession {
					fmt.Printf("%s %s %s session=%q\n", ev.Time.Format("15:04:05.000-07:00"), ev.Server, ev.UserName(), ev.SessionID)
				}
				continue
			}
		}
		if h, err = auditlog.ParseHeader(line); err != nil {
			panic(err)
		}
	}
	if err := scanner.Err(); err != nil {
		panic(err)
	}
	fmt.Println(counts[auditlog.Accepted], "accepted,", counts[auditlog.Ignored], "ignored,", counts[auditlog.Malformed], "malformed")
	// Output:
	// 10:10:10.123+01:00 SENSE1 LAB\anna session="2f1c7a8e-7d35-4c38-a7a2-0a6f5b3e9d01"
	// 10:15:01.250+01:00 sense2.lab.example CORP\bob session="9b3e51c4-0d2a-4f7e-b1c8-6e5d4c3b2a10"
	// 10:16:00.000+01:00 SENSE1 LAB\svc_monitor session=""
	// 11:00:00.000+01:00 SENSE1 LAB\Jörg.Müller session=""
	// 11:00:01.000+01:00 SENSE1 ОТДЕЛ\李雷 session="d00d0000-0000-4000-8000-000000000001"
	// 12:00:00.000+01:00 SENSE1 LAB\anna session="c0ffee00-1234-4abc-9def-0123456789ab"
	// 11 accepted, 4 ignored, 0 malformed
}

package qps_test

import (
	"context"
	"testing"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps/qpstest"
)

// BenchmarkUsers300000 is one poll of a session API answering 300,000
// sessions of 3,000 users (the hostile soak's API flood): the request
// over mutual TLS to the fake, the read and the decoding folded per user.
func BenchmarkUsers300000(b *testing.B) {
	const sessions, perUser = 300_000, 100
	answer := qpstest.ManySessions(sessions, perUser, "LAB", "user")
	server := qpstest.NewServer(b, map[string]string{"": answer})
	client, err := qps.NewClient(server.URL, server.ClientTLS(b), time.Minute, "")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(answer)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := client.Users(context.Background(), "", 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Users) != sessions/perUser {
			b.Fatalf("%d users, not %d", len(got.Users), sessions/perUser)
		}
	}
}

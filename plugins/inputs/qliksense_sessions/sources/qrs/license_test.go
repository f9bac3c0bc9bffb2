package qrs_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi/qlikapitest"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

func licenseServer(t *testing.T) *qrstest.Server {
	t.Helper()
	server := qrstest.NewServer(t, appsAnswer)
	server.SetLicenseAnswer(qrstest.OverviewPath, qrstest.FullOverview().JSON())
	server.SetLicenseAnswer(qrstest.LicensePath, qrstest.LicenseAnswer(false, "Valid From: 2025-01-01\nValid To: 2027-01-31\nNo of cores: unlimited\n", ""))
	server.SetLicenseAnswer(qrstest.ProfessionalPath, qrstest.AllocationsAnswer("License.ProfessionalAccessType",
		[]qrstest.User{{Directory: "LAB", ID: "anna"}, {Directory: "LAB", ID: "maria"}, {}}, func(i int) bool { return i == 1 }))
	return server
}

func licenseClient(t testing.TB, server *qrstest.Server, tlsConfig *tls.Config, timeout time.Duration) *qrs.LicenseClient {
	t.Helper()
	if tlsConfig == nil {
		tlsConfig = server.ClientTLS(t)
	}
	client, err := qrs.NewLicenseClient(server.URL, tlsConfig, timeout, "")
	require.NoError(t, err)
	return client
}

func f(v float64) *float64 { return &v }

// wantFull is what the client makes of qrstest.FullOverview.
var wantFull = &qrs.Overview{
	Professional:     qrs.Counts{Enabled: true, Total: f(100), Allocated: f(95), Used: f(90), Quarantined: f(2), Excess: f(0), Available: f(3)},
	Analyzer:         qrs.Counts{Enabled: true, Total: f(500), Allocated: f(410), Used: f(380), Quarantined: f(7), Excess: f(1), Available: f(83)},
	AnalyzerCapacity: qrs.Counts{Enabled: true, AllocatedMinutes: f(60000), UsedMinutes: f(12345), UnavailableMinutes: f(6)},
	Login:            qrs.Counts{Enabled: true, TokenCost: f(10), AllocatedTokens: f(400), UsedTokens: f(250), UnavailableTokens: f(20)},
	User:             qrs.Counts{Enabled: true, TokenCost: f(1), AllocatedTokens: f(200), UsedTokens: f(180), QuarantinedTokens: f(3)},
	TotalTokens:      f(1000), AvailableTokens: f(130), TokensEnabled: true,
}

// overview is Overview, for qlikapitest's checks of a client.
func overview(server *qrstest.Server) qlikapitest.Client {
	return qlikapitest.Client{
		Path: qrs.OverviewPath,
		New: func(t testing.TB, tlsConfig *tls.Config, timeout time.Duration) qlikapitest.Call {
			client := licenseClient(t, server, tlsConfig, timeout)
			return func(ctx context.Context) (any, error) { return client.Overview(ctx) }
		},
		Want: wantFull,
	}
}

// allocations is Allocations of the professional list, for the checks.
func allocations(server *qrstest.Server) qlikapitest.Client {
	return qlikapitest.Client{
		Path: qrs.ProfessionalPath,
		New: func(t testing.TB, tlsConfig *tls.Config, timeout time.Duration) qlikapitest.Call {
			client := licenseClient(t, server, tlsConfig, timeout)
			return func(ctx context.Context) (any, error) { return client.Allocations(ctx, qrs.ProfessionalPath, 100) }
		},
		Want: &qrs.Allocations{
			Entries: []qrs.Allocation{
				{User: `LAB\anna`, LastUsed: "2026-12-01T10:00:00.000Z"},
				{User: `LAB\maria`, Quarantined: true, LastUsed: "2026-12-01T10:01:00.000Z"},
			},
			Listed: 3, Unnamed: 1,
		},
	}
}

// Every access type enabled: each number lands in its place; the requests
// go where the app list's go, with the repository's service account.
func TestOverview(t *testing.T) {
	server := licenseServer(t)
	client := licenseClient(t, server, nil, 5*time.Second)
	o, err := client.Overview(context.Background())
	require.NoError(t, err)
	require.Equal(t, wantFull, o)

	got, err := client.Allocations(context.Background(), qrs.ProfessionalPath, 100)
	require.NoError(t, err)
	require.Equal(t, allocations(server).Want, got)

	requests := server.Requests()
	require.Len(t, requests, 2)
	require.Equal(t, qrs.OverviewPath, requests[0].Path)
	require.Equal(t, qrs.ProfessionalPath, requests[1].Path)
	for _, r := range requests {
		require.Equal(t, "GET", r.Method)
		require.Equal(t, "https", r.Scheme)
		require.Equal(t, qrs.DefaultUserHeader, r.User)
	}
	qlikapitest.CheckXrfKeys(t, requests)
}

// Each access type disabled on its own, all disabled, and access types
// left out of the answer (disabled, numbers nil).
func TestOverviewDisabled(t *testing.T) {
	for name, off := range map[string]func(*qrstest.Overview){
		"professional":      func(o *qrstest.Overview) { o.ProfessionalAccess.Enabled = false },
		"analyzer":          func(o *qrstest.Overview) { o.AnalyzerAccess.Enabled = false },
		"analyzer_capacity": func(o *qrstest.Overview) { o.AnalyzerTimeAccess.Enabled = false },
		"token_login":       func(o *qrstest.Overview) { o.LoginAccess.Enabled = false },
		"token_user":        func(o *qrstest.Overview) { o.UserAccess.Enabled = false },
		"tokens_available":  func(o *qrstest.Overview) { o.TokensEnabled = false },
	} {
		t.Run(name, func(t *testing.T) {
			o := qrstest.FullOverview()
			off(&o)
			got, err := qrs.ParseOverview([]byte(o.JSON()))
			require.NoError(t, err)
			enabled := map[string]bool{
				"professional": got.Professional.Enabled, "analyzer": got.Analyzer.Enabled, "analyzer_capacity": got.AnalyzerCapacity.Enabled,
				"token_login": got.Login.Enabled, "token_user": got.User.Enabled, "tokens_available": got.TokensEnabled,
			}
			for kind, on := range enabled {
				require.Equal(t, kind != name, on, kind)
			}
		})
	}

	got, err := qrs.ParseOverview([]byte(`{"professionalAccess":{"enabled":false},"analyzerAccess":{"enabled":true,"total":null},"schemaPath":"x"}`))
	require.NoError(t, err)
	require.Equal(t, &qrs.Overview{Analyzer: qrs.Counts{Enabled: true}}, got)

	for _, bad := range []string{`[]`, `{"professionalAccess":{"enabled":"yes"}}`, `{} {}`, ``, `{"totalTokens":"many"}`} {
		_, err := qrs.ParseOverview([]byte(bad))
		require.Error(t, err, bad)
	}
}

// A repository without the licence endpoints (an older Sense) answers 404:
// IsNotThere says so, and the error says why; other statuses are not.
func TestLicenseNotThere(t *testing.T) {
	server := qrstest.NewServer(t, appsAnswer) // no licence answers: 404
	client := licenseClient(t, server, nil, 5*time.Second)
	_, err := client.Overview(context.Background())
	require.True(t, qrs.IsNotThere(err), "%v", err)
	require.ErrorContains(t, err, "GET "+server.URL+qrs.OverviewPath+": HTTP status 404")
	require.ErrorContains(t, err, "no such endpoint")
	_, err = client.ServerLicense(context.Background())
	require.True(t, qrs.IsNotThere(err), "%v", err)
	_, err = client.Allocations(context.Background(), qrs.AnalyzerPath, 10)
	require.True(t, qrs.IsNotThere(err), "%v", err)

	server.SetLicenseAnswer(qrstest.OverviewPath, qrstest.FullOverview().JSON())
	for _, failure := range []qlikapitest.Failure{qlikapitest.Status500, qlikapitest.Status403, qlikapitest.BadJSON, qlikapitest.Hang} {
		server.SetFailure(failure)
		_, err := licenseClient(t, server, nil, 300*time.Millisecond).Overview(context.Background())
		require.Error(t, err)
		require.False(t, qrs.IsNotThere(err), "%v", err)
	}
	server.SetFailure(qlikapitest.OK)
}

// The failures every client names alike (statuses, bad JSON, a slow answer,
// TLS), a cancelled request, and the redirects: followed within the
// repository, refused elsewhere.
func TestLicenseFailures(t *testing.T) {
	server := licenseServer(t)
	server.CheckFailures(t, overview(server), server.Failures(t, "access type overview")...)
	server.CheckFailures(t, allocations(server), server.Failures(t, "array of allocations")...)
	server.CheckCancel(t, overview(server))
	server.CheckRedirectFollowed(t, overview(server))
	server.CheckRedirectsRefused(t, overview(server))
	server.CheckRedirectFollowed(t, allocations(server))
	server.CheckRedirectsRefused(t, allocations(server))
}

// The allocation lists may be long (64 MiB); the overview and the licence
// are small, and refused past 1 MiB.
func TestLicenseOversize(t *testing.T) {
	server := licenseServer(t)
	server.CheckOversize(t, allocations(server))

	client := licenseClient(t, server, nil, 30*time.Second)
	for _, failure := range []qlikapitest.Failure{qlikapitest.Oversize, qlikapitest.OversizeDeclared} {
		server.SetFailure(failure)
		_, err := client.Overview(context.Background())
		require.ErrorContains(t, err, "over the size limit of 1 MiB")
		_, err = client.ServerLicense(context.Background())
		require.ErrorContains(t, err, "over the size limit of 1 MiB")
	}
	server.SetFailure(qlikapitest.OK)
	o, err := client.Overview(context.Background())
	require.NoError(t, err)
	require.Equal(t, wantFull, o)
}

// A 50,000-user site: the whole list is read, its quarantined and deleted
// users' entries told apart, and entries past the maximum counted, not
// kept.
func TestAllocations50000(t *testing.T) {
	const n = 50_000
	users := make([]qrstest.User, n)
	for i := range users {
		users[i] = qrstest.User{Directory: "CORP", ID: fmt.Sprintf("user%05d", i)}
		if i%1000 == 999 {
			users[i] = qrstest.User{Directory: "CORP", ID: ""} // deleted
		}
	}
	server := qrstest.NewServer(t, appsAnswer)
	server.SetLicenseAnswer(qrstest.AnalyzerPath, qrstest.AllocationsAnswer("License.AnalyzerAccessType", users, func(i int) bool { return i%10 == 3 }))
	client := licenseClient(t, server, nil, 30*time.Second)

	a, err := client.Allocations(context.Background(), qrs.AnalyzerPath, 100_000)
	require.NoError(t, err)
	require.Equal(t, n, a.Listed)
	require.Equal(t, 50, a.Unnamed)
	require.Zero(t, a.OverLimit)
	require.Len(t, a.Entries, n-50)
	quarantined := 0
	for _, e := range a.Entries {
		if e.Quarantined {
			quarantined++
		}
	}
	require.Equal(t, n/10, quarantined)
	require.Equal(t, `CORP\user00000`, a.Entries[0].User)

	a, err = client.Allocations(context.Background(), qrs.AnalyzerPath, 40_000)
	require.NoError(t, err)
	require.Len(t, a.Entries, 40_000)
	require.Equal(t, n-50-40_000, a.OverLimit)
	require.Equal(t, n, a.Listed)
}

func TestParseAllocationsBad(t *testing.T) {
	for _, bad := range []string{`{}`, `[{"user":"x"}]`, `[{"user":{"userId":"a","userDirectory":"B"}}`, `[] []`, ``} {
		_, err := qrs.ParseAllocations([]byte(bad), 10)
		require.Error(t, err, bad)
	}
}

// The server licence: a signed key's "Valid To:", an LEF's TIMELIMIT or
// PRODUCTLEVEL date, neither, and the expired flag; days are counted up,
// negative once past.
func TestServerLicense(t *testing.T) {
	now := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name            string
		expired         bool
		keyDetails, lef string
		date            string
		days            int
		ok              bool
	}{
		{name: "signed key", keyDetails: "Valid From: 2025-01-01\r\nValid To: 2027-01-31\r\nNo of cores: unlimited", date: "2027-01-31", days: 55, ok: true},
		{name: "signed key, expired", expired: true, keyDetails: "Valid To: 2026-11-30\n", date: "2026-11-30", days: -7, ok: true},
		{name: "signed key, time", keyDetails: "Valid To: 2026-12-08T10:00:00Z", date: "2026-12-08T10:00:00Z", days: 1, ok: true},
		{name: "LEF timelimit", lef: "Qlik Sense Enterprise\nPRODUCTLEVEL;50;;2027-06-30\nTOKENS;100;;\nTIMELIMIT;2027-03-31\n",
			date: "2027-03-31", days: 114, ok: true},
		{name: "LEF productlevel", lef: "Qlik Sense Enterprise\r\nPRODUCTLEVEL;50;;2026-12-31\r\nTOKENS;100;;\r\n", date: "2026-12-31", days: 24, ok: true},
		{name: "LEF without a date", lef: "Qlik Sense Enterprise\nTOKENS;100;;\n"},
		{name: "unreadable date", keyDetails: "Valid To: soon", date: "soon"},
		{name: "nothing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := qrs.ParseServerLicense([]byte(qrstest.LicenseAnswer(tt.expired, tt.keyDetails, tt.lef)))
			require.NoError(t, err)
			require.Equal(t, tt.expired, l.Expired)
			require.Equal(t, tt.date, l.ExpiryDate)
			days, ok := l.DaysUntil(now)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.days, days)
		})
	}

	server := licenseServer(t)
	l, err := licenseClient(t, server, nil, 5*time.Second).ServerLicense(context.Background())
	require.NoError(t, err)
	require.Equal(t, "2027-01-31", l.ExpiryDate)
	require.Equal(t, time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), l.Expiry)
	_, err = qrs.ParseServerLicense([]byte(`[]`))
	require.Error(t, err)
}

// BenchmarkParseAllocations50000: reading a 50,000-entry allocation list,
// the larger part of a licence poll's cost at such a site.
func BenchmarkParseAllocations50000(b *testing.B) {
	users := make([]qrstest.User, 50_000)
	for i := range users {
		users[i] = qrstest.User{Directory: "CORP", ID: fmt.Sprintf("user%05d", i)}
	}
	body := []byte(qrstest.AllocationsAnswer("License.AnalyzerAccessType", users, func(i int) bool { return i%10 == 3 }))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := qrs.ParseAllocations(body, 100_000); err != nil {
			b.Fatal(err)
		}
	}
}

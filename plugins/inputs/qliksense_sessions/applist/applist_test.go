package applist

import (
	"strings"
	"testing"
	"time"

	common_tls "github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

// The plugin's tests (app_names_test.go, streams_test.go) cover the list
// through the summaries; this is the list alone: nothing known before the
// first answer, then names and streams by id in any case, and Stop ends it.
func TestList(t *testing.T) {
	const stock, sales = "10000000-0000-4000-8000-000000000000", "3f1d2c4a-1111-2222-3333-44445555aaaa"
	server := qrstest.NewServer(t, qrstest.Answer(qrstest.App{ID: stock, Name: "Stock"}, qrstest.App{ID: sales, Name: "Sales"}))
	tc := common_tls.ClientConfig{TLSCA: server.CAFile, TLSCert: server.ClientCertFile, TLSKey: server.ClientKeyFile}
	tlsConfig, err := tc.TLSConfig()
	require.NoError(t, err)
	client, err := qrs.NewClient(server.URL, tlsConfig, 30*time.Second, "")
	require.NoError(t, err)
	l := New(Config{Client: client, URL: server.URL, Interval: time.Hour, Timeout: 30 * time.Second, UsersMaxBytes: 1024})

	require.Empty(t, l.Name(sales))
	require.Empty(t, l.StreamName(sales))
	counters := func() map[string]interface{} {
		fields := map[string]interface{}{}
		l.InternalFields(fields)
		return fields
	}
	require.Equal(t, map[string]interface{}{"app_name_fetches": int64(0), "app_name_fetch_errors": int64(0),
		"tracked_app_names": int64(0), "app_names_left_out": int64(0)}, counters())

	l.Start(testutil.Logger{})
	t.Cleanup(l.Stop)
	require.Eventually(t, func() bool { return counters()["tracked_app_names"] == int64(2) }, 10*time.Second, time.Millisecond)
	require.Equal(t, "Sales", l.Name(sales))
	require.Equal(t, "Stock", l.Name(stock))
	require.Equal(t, "Sales", l.Name(strings.ToUpper(sales)))
	require.Equal(t, "Everyone", l.StreamName(sales))
	require.Equal(t, "(unpublished)", l.StreamName(stock))
	require.Equal(t, int64(1), counters()["app_name_fetches"])
}

package qlikapi

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var testAPI = API{
	Server: "proxy", Name: "the session API", Form: "https://<proxy host>:4243", Example: "https://sense1.example.com:4243",
	URLIs: "the proxy's session API", CertHost: "the proxy certificate", UserHeader: "UserDirectory=INTERNAL; UserId=sa_api", MaxAnswer: 1 << 20,
}

// Redirects stay within scheme, host (in any case) and port, the scheme's
// default port included.
func TestSameOrigin(t *testing.T) {
	base, err := url.Parse("https://sense1.example.com/qps")
	require.NoError(t, err)
	for target, same := range map[string]bool{
		"https://sense1.example.com/x":      true,
		"HTTPS://SENSE1.Example.com:443/x":  true,
		"https://sense1.example.com:4243/x": false,
		"http://sense1.example.com/x":       false,
		"http://sense1.example.com:443/x":   false,
		"https://sense2.example.com/x":      false,
		"https://user@sense1.example.com/x": true,
	} {
		u, err := url.Parse(target)
		require.NoError(t, err)
		require.Equal(t, same, sameOrigin(u, base), target)
	}
}

func TestNewClient(t *testing.T) {
	c, err := NewClient(testAPI, "https://sense1.example.com:4243/", nil, time.Second, "")
	require.NoError(t, err)
	require.Equal(t, "https://sense1.example.com:4243/qps/session", c.URL("/qps/session"))
	require.Equal(t, testAPI.UserHeader, c.userHeader)
	c, err = NewClient(testAPI, "https://sense1.example.com:4243/?x=1", nil, time.Second, "UserDirectory=LAB; UserId=me")
	require.NoError(t, err, "a query is dropped unless RefuseQuery")
	require.Equal(t, "https://sense1.example.com:4243/qps/session", c.URL("/qps/session"))
	require.Equal(t, "UserDirectory=LAB; UserId=me", c.userHeader)

	_, err = NewClient(testAPI, "ftp://sense1", nil, time.Second, "")
	require.EqualError(t, err, `url "ftp://sense1" is not https://<proxy host>:4243, e.g. "https://sense1.example.com:4243"`)
	_, err = NewClient(testAPI, "http://sense1:4243", nil, time.Second, "")
	require.ErrorContains(t, err, `url "http://sense1:4243" is plain http: the session API answers on https only`)
	_, err = NewClient(testAPI, "https://admin:s3cret@sense1:4243/", nil, time.Second, "")
	require.EqualError(t, err, `url "https://sense1:4243/" has a user name or password before the host: the session API authenticates callers `+
		`by the client certificate (tls_cert, tls_key), not by credentials in the url, which would show in every log line naming it: `+
		`remove them, url = "https://sense1:4243/"`)
	strict := testAPI
	strict.RefuseQuery = true
	for _, bad := range []string{"https://sense1:4243/?x=1", "https://sense1:4243/#x"} {
		_, err = NewClient(strict, bad, nil, time.Second, "")
		require.ErrorContains(t, err, "has a query or fragment", bad)
	}
}

// An error answer reaches the log as one line of valid text.
func TestPrintable(t *testing.T) {
	require.Equal(t, "bad  request ? end", printable([]byte(" bad\r\nrequest \xff end\n")))
}

// Every asks at once, then every interval, and returns once ctx ends.
func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	asked := 0
	Every(ctx, time.Millisecond, func(ctx context.Context) {
		asked++
		if asked == 3 {
			cancel()
		}
		require.Equal(t, asked == 3, ctx.Err() != nil)
	})
	require.Equal(t, 3, asked)
}

// A poll that takes longer than the interval (a huge session API answer
// takes seconds to decode) is followed by a whole interval of rest, not at
// once by the next: with a ticker the polls ran back to back and took a core.
func TestEveryRestsAfterASlowPoll(t *testing.T) {
	const interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var starts, ends []time.Time
	Every(ctx, interval, func(context.Context) {
		starts = append(starts, time.Now())
		time.Sleep(3 * interval) // the slow poll itself
		ends = append(ends, time.Now())
		if len(starts) == 3 {
			cancel()
		}
	})
	require.Len(t, starts, 3)
	for i := 1; i < len(starts); i++ {
		require.GreaterOrEqual(t, starts[i].Sub(ends[i-1]), interval, "poll %d began %s after the one before ended", i+1, starts[i].Sub(ends[i-1]))
	}
}

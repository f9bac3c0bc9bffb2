package udp

import (
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		address, network, hostPort, err string
	}{
		{address: "udp://:9997", network: "udp", hostPort: ":9997"},
		{address: "udp4://0.0.0.0:9997", network: "udp4", hostPort: "0.0.0.0:9997"},
		{address: "udp6://[::1]:9997", network: "udp6", hostPort: "[::1]:9997"},
		{address: "", err: "service_address is empty"},
		{address: ":9997", err: "has no protocol"},
		{address: "tcp://:9997", err: `protocol "tcp" is not supported`},
		{address: "udp://9997", err: "missing port"},
		{address: "udp://:http-nope", err: "bad port"},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			network, hostPort, err := ParseAddress(tt.address)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.network, network)
			require.Equal(t, tt.hostPort, hostPort)
		})
	}
}

func TestSources(t *testing.T) {
	sources, err := ParseSources([]string{"10.0.0.11", "10.0.1.0/24", "fd00::/8"})
	require.NoError(t, err)
	for addr, want := range map[string]bool{
		"10.0.0.11": true, "10.0.0.12": false, "10.0.1.200": true, "::ffff:10.0.1.7": true,
		"fd00::1": true, "fe80::1": false,
	} {
		require.Equal(t, want, sources.Allowed(netip.MustParseAddr(addr)), addr)
	}
	require.True(t, Sources(nil).Allowed(netip.MustParseAddr("192.0.2.1")), "no list allows all")

	_, err = ParseSources([]string{"10.0.0.300"})
	require.ErrorContains(t, err, `allowed_sources: "10.0.0.300" is not an IP address or CIDR range`)
}

// A datagram of the largest size UDP allows arrives whole.
func TestLargestDatagramArrivesWhole(t *testing.T) {
	l, _, err := Listen("udp4", "127.0.0.1:0", 0)
	require.NoError(t, err)
	got := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(func(payload []byte, _ netip.Addr, _ time.Time) { got <- len(payload) }, func(error) {})
	}()
	conn, err := net.Dial("udp4", l.LocalAddr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(make([]byte, MaxPayload))
	require.NoError(t, err)
	require.Equal(t, MaxPayload, <-got)
	require.NoError(t, l.Close())
	<-done
}

// With a small receive buffer and nobody reading, a burst overflows the
// buffer: what was received and what the kernel says it dropped add up to
// what was sent.
func TestDroppedDatagramsAreCounted(t *testing.T) {
	if runtime.GOOS != "linux" {
		l, _, err := Listen("udp4", "127.0.0.1:0", 0)
		require.NoError(t, err)
		defer l.Close()
		_, ok := l.Dropped()
		require.False(t, ok, "only Linux reports drops")
		return
	}
	l, _, err := Listen("udp4", "127.0.0.1:0", 4096)
	require.NoError(t, err)
	dropped, ok := l.Dropped()
	require.True(t, ok, "Linux reports drops")
	require.Zero(t, dropped)

	conn, err := net.Dial("udp4", l.LocalAddr().String())
	require.NoError(t, err)
	defer conn.Close()
	const sent = 2000
	payload := []byte("/qseow-proxy-session/;SENSE1;Start session;LAB;anna;AppAccess;/hub/;Start session for user 'LAB\\anna'")
	for i := 0; i < sent; i++ {
		_, err := conn.Write(payload)
		require.NoError(t, err)
	}

	var received atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(func([]byte, netip.Addr, time.Time) { received.Add(1) }, func(error) {})
	}()
	require.Eventually(t, func() bool {
		dropped, _ := l.Dropped()
		return received.Load()+dropped == sent
	}, 10*time.Second, 10*time.Millisecond)
	dropped, _ = l.Dropped()
	require.NotZero(t, dropped, "a 4 KiB buffer cannot hold the burst")
	require.NoError(t, l.Close())
	<-done
}

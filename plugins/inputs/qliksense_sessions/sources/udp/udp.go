// Package udp is the UDP source: it receives the datagrams that Qlik Sense's
// log4net UdpAppenders send and hands each payload on, in order, from one
// reused buffer.
//
// Telegraf's plugins/common/socket is not used here: it copies every
// datagram and hands it to a worker pool, and drops datagrams from sources
// outside allowed_sources without a count, while we need them counted and
// want each datagram parsed in order, straight from one reused buffer.
package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// MaxPayload is the largest payload a UDP datagram over IPv4 can carry.
const MaxPayload = 65507

// MaxReadBuffer is the largest read buffer Listen asks for: SO_RCVBUF is a
// C int, which Linux doubles, so 1 GiB or more wraps; 512 MiB is far more
// than any flood of a Qlik Sense site needs.
const MaxReadBuffer = 512 << 20

// ParseAddress splits a service_address such as udp://:9997 into the
// network (udp, udp4 or udp6) and host:port.
func ParseAddress(address string) (network, hostPort string, err error) {
	const fix = `use udp://:9997, udp4://0.0.0.0:9997 or udp6://[::]:9997`
	if address == "" {
		return "", "", errors.New("service_address is empty: " + fix)
	}
	network, hostPort, found := strings.Cut(address, "://")
	if !found {
		return "", "", fmt.Errorf("service_address %q has no protocol: %s", address, fix)
	}
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return "", "", fmt.Errorf("service_address %q: protocol %q is not supported (log4net's UdpAppender sends UDP): %s", address, network, fix)
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", "", fmt.Errorf("service_address %q: %w: %s", address, err, fix)
	}
	if _, err := net.LookupPort(network, port); err != nil || port == "" {
		return "", "", fmt.Errorf("service_address %q: bad port %q: %s", address, port, fix)
	}
	return network, net.JoinHostPort(host, port), nil
}

// Sources is an allowed_sources list; empty allows every source.
type Sources []netip.Prefix

// ParseSources reads allowed_sources: IP addresses or CIDR ranges.
func ParseSources(sources []string) (Sources, error) {
	parsed := make(Sources, 0, len(sources))
	for _, source := range sources {
		prefix, err := netip.ParsePrefix(source)
		if !strings.Contains(source, "/") {
			var addr netip.Addr
			if addr, err = netip.ParseAddr(source); err == nil {
				addr = addr.Unmap()
				prefix = netip.PrefixFrom(addr, addr.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("allowed_sources: %q is not an IP address or CIDR range (e.g. \"10.0.0.11\" or \"10.0.1.0/24\"): %w", source, err)
		}
		parsed = append(parsed, prefix.Masked())
	}
	return parsed, nil
}

// Allowed tells whether a datagram from source may pass.
func (s Sources) Allowed(source netip.Addr) bool {
	if len(s) == 0 {
		return true
	}
	source = source.Unmap()
	for _, prefix := range s {
		if prefix.Contains(source) {
			return true
		}
	}
	return false
}

// Listener is an open UDP socket.
type Listener struct {
	conn  *net.UDPConn
	drops dropCounter
}

// Listen opens the socket. A readBuffer above 0 sets the socket's receive
// buffer; warning says when the OS granted less than asked, or could not
// set it, and the listener is usable regardless.
func Listen(network, address string, readBuffer int) (l *Listener, warning string, err error) {
	addr, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, "", err
	}
	conn, err := net.ListenUDP(network, addr)
	if err != nil {
		return nil, "", err
	}
	if readBuffer > 0 {
		got, err := setReadBuffer(conn, readBuffer)
		if err != nil {
			warning = fmt.Sprintf("Setting read_buffer_size to %d failed: %v", readBuffer, err)
		} else if got > 0 && got < readBuffer {
			warning = fmt.Sprintf("read_buffer_size: asked for %d bytes, the OS gave %d; "+
				"raise net.core.rmem_max or run with CAP_NET_ADMIN to get more", readBuffer, got)
		}
	}
	return &Listener{conn: conn, drops: newDropCounter(conn)}, warning, nil
}

// LocalAddr is the address the socket listens on.
func (l *Listener) LocalAddr() net.Addr { return l.conn.LocalAddr() }

// Run reads datagrams until Close and calls handle for each, with a payload
// valid only during the call. Read errors other than the close go to
// onError, and reading goes on.
func (l *Listener) Run(handle func(payload []byte, source netip.Addr, received time.Time), onError func(error)) {
	// One byte more than any datagram can hold, so that nothing is cut.
	buf := make([]byte, MaxPayload+1)
	for {
		n, source, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			onError(err)
			continue
		}
		handle(buf[:n], source.Addr(), time.Now())
	}
}

// Dropped returns how many datagrams the kernel dropped on this socket
// because its receive buffer was full, and false where the OS does not say.
func (l *Listener) Dropped() (uint64, bool) { return l.drops.dropped() }

// Close stops Run.
func (l *Listener) Close() error { return l.conn.Close() }

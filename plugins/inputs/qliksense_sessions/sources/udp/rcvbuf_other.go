//go:build !linux

package udp

import "net"

// setReadBuffer sets SO_RCVBUF; the size granted is not known here (0).
func setReadBuffer(conn *net.UDPConn, size int) (int, error) {
	return 0, conn.SetReadBuffer(size)
}

// dropCounter is not available outside Linux: Windows and the BSDs keep no
// per-socket count of datagrams dropped for a full receive buffer that a
// process can read.
type dropCounter struct{}

func newDropCounter(*net.UDPConn) dropCounter { return dropCounter{} }

func (dropCounter) dropped() (uint64, bool) { return 0, false }

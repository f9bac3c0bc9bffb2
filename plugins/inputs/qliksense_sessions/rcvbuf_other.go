//go:build !linux

package qliksense_sessions

import "net"

// setReadBuffer sets SO_RCVBUF; the size granted is not known here (0).
func setReadBuffer(conn *net.UDPConn, size int) (int, error) {
	return 0, conn.SetReadBuffer(size)
}

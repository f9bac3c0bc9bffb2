package qliksense_sessions

import (
	"net"

	"github.com/influxdata/telegraf"
)

// listenUDP opens the socket. Telegraf's plugins/common/socket is not used
// here: it copies every datagram and hands it to a worker pool, and drops
// datagrams from sources outside allowed_sources without a count, while we
// need them counted and want each datagram parsed in order, straight from
// one reused buffer.
func listenUDP(network, address string, readBuffer int, log telegraf.Logger) (*net.UDPConn, error) {
	addr, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP(network, addr)
	if err != nil {
		return nil, err
	}
	if readBuffer > 0 {
		got, err := setReadBuffer(conn, readBuffer)
		if err != nil {
			log.Warnf("Setting read_buffer_size to %d failed: %v", readBuffer, err)
		} else if got > 0 && got < readBuffer {
			log.Warnf("read_buffer_size: asked for %d bytes, the OS gave %d; raise net.core.rmem_max or run with CAP_NET_ADMIN to get more", readBuffer, got)
		}
	}
	return conn, nil
}

package udp

import (
	"net"
	"syscall"
)

// setReadBuffer sets SO_RCVBUF, which Linux caps at net.core.rmem_max, and
// then, if that capped it, tries SO_RCVBUFFORCE, which a privileged process
// may use to go past the cap. It returns the size the kernel reports (Linux
// reports twice the usable size, so it is halved).
func setReadBuffer(conn *net.UDPConn, size int) (int, error) {
	if err := conn.SetReadBuffer(size); err != nil {
		return 0, err
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	got := 0
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		got, sockErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		if sockErr != nil || got/2 >= size {
			return
		}
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size) == nil {
			got, sockErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		}
	})
	if err != nil {
		return 0, err
	}
	if sockErr != nil {
		return 0, sockErr
	}
	return got / 2, nil
}

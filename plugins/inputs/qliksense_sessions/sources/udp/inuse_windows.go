package udp

import (
	"errors"
	"syscall"
)

// errWSAAddrInUse is Winsock's "address already in use", which Go's syscall
// package does not map to syscall.EADDRINUSE.
const errWSAAddrInUse = syscall.Errno(10048)

// AddressInUse tells whether a Listen error says that another socket has
// the address (WSAEADDRINUSE).
func AddressInUse(err error) bool {
	return errors.Is(err, errWSAAddrInUse) || errors.Is(err, syscall.EADDRINUSE)
}

//go:build !windows

package udp

import (
	"errors"
	"syscall"
)

// AddressInUse tells whether a Listen error says that another socket has
// the address (EADDRINUSE).
func AddressInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

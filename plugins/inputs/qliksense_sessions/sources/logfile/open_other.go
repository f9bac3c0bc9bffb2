//go:build !windows

package logfile

import (
	"os"
	"syscall"
)

// openShared opens path for reading. On Unix an open file never stops its
// writer from renaming or deleting it; open_windows.go asks Windows for the
// same.
//
// The open is non-blocking: opening a FIFO without a writer (or some
// devices) for reading would otherwise block until a writer comes, maybe
// forever, however the path looked when it was checked before (it may have
// been replaced since). Only a regular file is returned; anything else is
// closed at once and reported as a *notRegularError. O_NONBLOCK does not
// change how a regular file reads, but Fd puts it back in blocking mode
// anyway.
func openShared(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(f, path); err != nil {
		return nil, err
	}
	f.Fd()
	return f, nil
}
